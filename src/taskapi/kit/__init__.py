"""Helpers with no domain imports: ids, time, cursors, JSON."""
