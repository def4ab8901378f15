"""Task API: a task management backend (REST + WebSocket over PostgreSQL)."""

__version__ = "0.1.0"
