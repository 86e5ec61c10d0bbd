"""Response-body shapes → Page."""

from __future__ import annotations

import orjson
import pytest

from trialsync_async.api.pages import Page, parse_page
from trialsync_async.errors import MalformedResponse

pytestmark = pytest.mark.unit


def test_odata_envelope() -> None:
    body = orjson.dumps(
        {
            "@odata.context": "https://x/CCSWEB/api/v1/$metadata#Studies",
            "@odata.count": 3,
            "value": [{"id": 1}, {"id": 2}],
            "@odata.nextLink": "https://x/CCSWEB/api/v1/studies/odata?$skip=2",
        }
    )
    page = parse_page(body)
    assert page == Page(
        records=[{"id": 1}, {"id": 2}],
        next_link="https://x/CCSWEB/api/v1/studies/odata?$skip=2",
        total=3,
        kind="odata",
    )
    assert not page.single


def test_odata_without_count_or_link() -> None:
    page = parse_page(b'{"@odata.context": "c", "value": []}')
    assert (page.records, page.next_link, page.total, page.kind) == ([], None, None, "odata")


def test_swagger_page_result() -> None:
    body = b'{"Items": [{"Id": 7}], "NextPageLink": "http://h/next?page=2", "Count": 40}'
    page = parse_page(body)
    assert page.records == [{"Id": 7}]
    assert page.next_link == "http://h/next?page=2"
    assert page.total == 40
    assert page.kind == "swagger"


def test_swagger_null_next_link() -> None:
    page = parse_page(b'{"Items": [], "NextPageLink": null, "Count": 0}')
    assert page.next_link is None and page.total == 0 and page.records == []


def test_bare_array() -> None:
    assert parse_page(b'[{"id": 1}, {"id": 2}]').records == [{"id": 1}, {"id": 2}]


def test_scalar_records() -> None:
    page = parse_page(b'["Active", "Closed", "On Hold"]')
    assert page.records == ["Active", "Closed", "On Hold"]
    assert page.kind == "array"


def test_single_object_is_one_record() -> None:
    page = parse_page(b'{"id": 5, "name": "Study", "value": 3}')
    assert page.records == [{"id": 5, "name": "Study", "value": 3}]
    assert page.single


def test_record_with_list_field_named_value_is_not_an_envelope() -> None:
    page = parse_page(b'{"name": "x", "value": [1, 2]}')
    assert page.single


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b'{"value": [{"id": 1}, {"id"',  # truncated
        b"<html><body>Service Unavailable</body></html>",
        b"not json",
        b"42",
        b'"text"',
        b"null",
        b"true",
    ],
)
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(MalformedResponse) as info:
        parse_page(body, endpoint="/api/v1/studies/odata")
    assert "/api/v1/studies/odata" in str(info.value)


def test_malformed_detail_does_not_quote_body() -> None:
    with pytest.raises(MalformedResponse) as info:
        parse_page(b"<html>patient John Doe</html>")
    assert "John" not in str(info.value)
    assert "HTML" in str(info.value)


def test_next_link_must_be_a_string() -> None:
    with pytest.raises(MalformedResponse):
        parse_page(b'{"@odata.context": "c", "value": [], "@odata.nextLink": 5}')
