"""Facts about the Clinical Conductor API, each written once (see the API reference)."""

from __future__ import annotations

MAX_PAGE_SIZE = 1000
"""The largest ``$top`` the API serves."""
AUTH_HEADER = "CCAPIKey"
"""The header that carries the API key (the swagger's security definition)."""
RECOMMENDED_RATE = 10.0
"""Requests/second per instance the API reference recommends at most."""
