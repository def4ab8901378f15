"""Realtime: the WebSocket stream, the per-process hub and the fan-out from the event log."""
