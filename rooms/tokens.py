"""Bearer tokens for the API and for paired screens. Only their SHA-256 is ever stored."""

import hashlib
import secrets


def token_new(prefix: str) -> tuple[str, str]:
    """A fresh token and the hash to store for it."""
    raw = f"{prefix}_{secrets.token_urlsafe(32)}"
    return raw, token_hash(raw)


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()
