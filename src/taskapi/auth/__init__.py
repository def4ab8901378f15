"""Accounts and tokens: registration, login, refresh rotation, logout, the current user."""
