"""The connection type every statement function takes: a connection of its own, or one
borrowed from the pool (asyncpg-stubs tells them apart; both run the same statements)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

Row: TypeAlias = "asyncpg.Record | Mapping[str, Any]"
"""A row as the statement functions read it (a Record, or a mapping in tests)."""
