"""Projects, membership and sharing."""
