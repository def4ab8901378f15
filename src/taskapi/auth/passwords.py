"""Argon2id password hashing (argon2-cffi), off the event loop."""

from __future__ import annotations

import anyio.to_thread
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's minimum for Argon2id: 19 MiB, 2 iterations, 1 lane
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1, type=Type.ID)


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(verify)


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than today's (rehash on login)."""
    return _hasher.check_needs_rehash(password_hash)


# made at import, not on the first failed login inside the event loop
_DUMMY_HASH = _hasher.hash("dummy password that matches nothing")


def dummy_hash() -> str:
    """A hash to verify against when the email is unknown, so both failures take as long."""
    return _DUMMY_HASH
