"""Schema-driven sample values for the swagger models (the static part of each record).

A record is rendered as a small dynamic head (id, uid, timestamps, names, parent references)
followed by one of a few pre-serialised *tails* holding every other field of the model, so
per-record work stays a handful of dict entries while records keep the swagger size and nesting.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from ccsim import text
from ccsim.hashing import uuid_from
from ccsim.swagger_models import DEFINITIONS

MAX_DEPTH = 3  # nested objects deeper than this are null
NULL_RATE = 0.12  # share of optional top-level/first-level fields rendered as null
_T0 = datetime(2015, 1, 1, tzinfo=UTC)


def sample(model: str, rng: random.Random, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A sample instance of ``model`` (a key of ``DEFINITIONS``) without the ``exclude`` keys."""
    return _fields(DEFINITIONS[model], rng, 0, exclude)


def _object(model: str, rng: random.Random, depth: int) -> dict[str, Any] | None:
    """A nested instance of ``model``, or None when the subset does not define it."""
    definition = DEFINITIONS.get(model)
    return None if definition is None else _fields(definition, rng, depth)


def _fields(
    definition: dict[str, Any],
    rng: random.Random,
    depth: int,
    exclude: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    required = set(definition.get("required", ()))
    out: dict[str, Any] = {}
    for name, prop in definition["properties"].items():
        if name in exclude:
            continue
        if depth <= 1 and name not in required and rng.random() < NULL_RATE:
            out[name] = None
            continue
        out[name] = _value(name, prop, rng, depth)
    return out


def _value(name: str, prop: dict[str, Any], rng: random.Random, depth: int) -> Any:
    ref = prop.get("$ref")
    if ref:
        return _object(ref, rng, depth + 1) if depth < MAX_DEPTH else None
    typ = prop.get("type")
    if typ == "array":
        n = rng.randint(0, 2) if depth < MAX_DEPTH - 1 else 0
        return [_value(name, prop["items"], rng, depth + 1) for _ in range(n)]
    if "enum" in prop:
        return rng.choice(prop["enum"])
    if typ == "string":
        s = _string(name, prop.get("format"), rng)
        limit = prop.get("maxLength")
        return s[:limit] if limit and isinstance(s, str) else s
    if typ == "integer":
        return rng.randint(1, 99_999)
    if typ == "number":
        return round(rng.uniform(0, 5000), 2)
    if typ == "boolean":
        return rng.random() < 0.5
    return None


def random_iso(rng: random.Random) -> str:
    dt = _T0 + timedelta(seconds=rng.randint(0, 10 * 365 * 86400))
    return dt.isoformat(timespec="seconds")[:19]


def _string(name: str, fmt: str | None, rng: random.Random) -> str:
    if fmt == "date-time":
        return random_iso(rng)
    if fmt == "uuid":
        return uuid_from(rng.getrandbits(64), rng.getrandbits(64))
    n = name.lower()
    first, last = rng.choice(text.FIRST_NAMES), rng.choice(text.LAST_NAMES)
    if "email" in n:
        return f"user{rng.randint(1, 9999)}@example.org"
    if "phone" in n or n in ("fax", "rawnumber", "number"):
        return f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    if n in ("zip", "postalcode"):
        return f"{rng.randint(10000, 99999)}"
    if "city" in n:
        return rng.choice(text.CITIES)
    if n == "state":
        return rng.choice(text.STATES)
    if "country" in n:
        return rng.choice(text.COUNTRIES)
    if n.startswith("address"):
        return f"{rng.randint(1, 999)} {rng.choice(text.STREETS)}"
    if "url" in n:
        return f"https://example.org/{rng.choice(text.WORDS).replace(' ', '-')}"
    if "color" in n:
        return f"#{rng.getrandbits(24):06X}"
    if n in ("firstname", "first"):
        return first
    if n in ("lastname", "last"):
        return last
    if n == "middlename":
        return rng.choice(("", "A.", "J.", "Ø."))
    if n in ("displayname", "fullname", "name", "providername", "referrername", "relationname"):
        return f"{first} {last}" if rng.random() < 0.5 else _phrase(rng)
    if n in ("comment", "description", "note", "narrative") or n.endswith("note"):
        return rng.choice(text.COMMENTS)
    if n in ("login", "username"):
        return f"{first[:1].lower()}{rng.randint(100, 999)}"
    if "currency" in n:
        return rng.choice(("USD", "EUR", "CAD", "JPY"))
    if "gender" in n:
        return rng.choice(("M", "F", "U"))
    if n == "race":
        return rng.choice(text.RACES)
    if n == "ethnicity":
        return rng.choice(text.ETHNICITIES)
    if n == "timezone":
        return rng.choice(("Eastern Standard Time", "Central Standard Time", "Tokyo Standard Time"))
    if "status" in n:
        return rng.choice(text.STATUS_WORDS)
    if "version" in n:
        return f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}"
    if any(w in n for w in ("code", "number", "identifier", "id")):
        return f"{rng.choice('ABCDEFGHJK')}{rng.choice('LMNPQRSTUV')}-{rng.randint(1000, 99999)}"
    return _phrase(rng)


def _phrase(rng: random.Random) -> str:
    return " ".join(rng.choice(text.WORDS) for _ in range(rng.randint(1, 3))).capitalize()
