"""Cheap deterministic integer hashing: every generated value derives from (seed, salt, n)."""

from __future__ import annotations

import hashlib

M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def mix(x: int) -> int:
    """splitmix64 finaliser: a bijective, well-mixed 64-bit hash of ``x``."""
    x &= M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def salt(seed: int, *parts: object) -> int:
    """A 64-bit salt for a named stream (e.g. ``salt(seed, "studies", "count")``)."""
    text = "\x1f".join([str(seed), *map(str, parts)]).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def h(s: int, n: int) -> int:
    """Hash of index ``n`` in the stream salted ``s``."""
    return mix(s + n * _GOLDEN)


def uuid_from(x: int, y: int) -> str:
    """A version-4 shaped UUID string built from two 64-bit hashes."""
    a = f"{x:016x}{y:016x}"
    return f"{a[0:8]}-{a[8:12]}-4{a[13:16]}-{'89ab'[y >> 62]}{a[17:20]}-{a[20:32]}"
