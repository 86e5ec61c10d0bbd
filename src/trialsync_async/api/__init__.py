"""HTTP client layer for the Clinical Conductor API (knows nothing about PostgreSQL)."""

from trialsync_async.api.client import ApiClient, ClientStats
from trialsync_async.api.limits import InstanceLimiter
from trialsync_async.api.pages import Page, parse_page
from trialsync_async.api.paging import (
    KeysetPaging,
    LinkPaging,
    OffsetPaging,
    Paging,
    walk,
)
from trialsync_async.api.retry import RetryPolicy, parse_retry_after
from trialsync_async.api.urls import encode_segment, placeholders, render_path

__all__ = [
    "ApiClient",
    "ClientStats",
    "InstanceLimiter",
    "KeysetPaging",
    "LinkPaging",
    "OffsetPaging",
    "Page",
    "Paging",
    "RetryPolicy",
    "encode_segment",
    "parse_page",
    "parse_retry_after",
    "placeholders",
    "render_path",
    "walk",
]
