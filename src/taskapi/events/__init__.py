"""The event log: the transactional outbox that history, realtime and sync all read."""
