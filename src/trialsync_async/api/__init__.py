"""HTTP client layer for the Clinical Conductor API (knows nothing about PostgreSQL)."""

from trialsync_async.api.client import ApiClient, ClientStats
from trialsync_async.api.limits import InstanceLimiter, clear_limiters, get_limiter, limiter_for
from trialsync_async.api.pages import Page, parse_page
from trialsync_async.api.paging import (
    MAX_PAGE_SIZE,
    KeysetPaging,
    LinkPaging,
    OffsetPaging,
    Paging,
    walk,
)
from trialsync_async.api.retry import RetryPolicy, parse_retry_after
from trialsync_async.api.urls import encode_segment, placeholders, render_path

__all__ = [
    "MAX_PAGE_SIZE",
    "ApiClient",
    "ClientStats",
    "InstanceLimiter",
    "KeysetPaging",
    "LinkPaging",
    "OffsetPaging",
    "Page",
    "Paging",
    "RetryPolicy",
    "clear_limiters",
    "encode_segment",
    "get_limiter",
    "limiter_for",
    "parse_page",
    "parse_retry_after",
    "placeholders",
    "render_path",
    "walk",
]
