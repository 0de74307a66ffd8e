"""The content hash that tells one version of a source from another.

This module must never import IPython.
"""

from __future__ import annotations

try:
    # The builtin module directly: importing hashlib also loads OpenSSL, several megabytes of
    # memory in a session that had not loaded it yet, for a hash it does not need.
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a CPython built without _blake2
    from hashlib import blake2b

__all__ = ["digest_bytes"]


def digest_bytes(data: bytes) -> bytes:
    """The content hash used everywhere: fast, 128 bits, not for security."""
    return blake2b(data, digest_size=16).digest()
