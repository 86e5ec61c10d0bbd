"""Unit tests of the simulator's OData query-option parser."""

from __future__ import annotations

import pytest

from ccsim.odata import ODataError, parse_query, parse_timestamp_us

pytestmark = pytest.mark.unit

KEY, TS = "id", "lastUpdatedOn"


def q(**opts: str):
    return parse_query([(f"${k}", v) for k, v in opts.items()], KEY, TS)


def ms(text: str) -> int:
    return parse_timestamp_us(text) // 1000


def test_defaults() -> None:
    got = parse_query([], KEY, TS)
    assert (got.top, got.skip, got.count, got.order_by, got.desc) == (50, 0, False, "id", False)
    assert not got.filtered


def test_top_skip_count_and_cap() -> None:
    assert q(top="10", skip="20").top == 10
    assert q(top="10", skip="20").skip == 20
    assert q(top="5000").top == 1000
    assert q(top="0").top == 0
    assert q(count="true").count is True
    assert q(count="FALSE").count is False


@pytest.mark.parametrize(
    "name,value",
    [("top", "-1"), ("top", "ten"), ("skip", "-5"), ("skip", ""), ("count", "yes")],
)
def test_bad_values(name: str, value: str) -> None:
    with pytest.raises(ODataError):
        q(**{name: value})


@pytest.mark.parametrize("name", ["$select", "$expand", "$format", "foo", "$search"])
def test_unknown_options(name: str) -> None:
    with pytest.raises(ODataError):
        parse_query([(name, "x")], KEY, TS)


def test_duplicate_option() -> None:
    with pytest.raises(ODataError):
        parse_query([("$top", "1"), ("$top", "2")], KEY, TS)


def test_orderby() -> None:
    assert (q(orderby="id desc").order_by, q(orderby="id desc").desc) == ("id", True)
    assert (q(orderby="lastUpdatedOn").order_by, q(orderby="lastUpdatedOn").desc) == ("ts", False)
    got = q(orderby="lastUpdatedOn desc, id desc")
    assert (got.order_by, got.desc) == ("ts", True)
    assert q(orderby="LastUpdatedOn ASC").order_by == "ts"  # names and keywords case-insensitive


@pytest.mark.parametrize(
    "value", ["name", "id sideways", "id asc extra", "id,,", "a,b,c", "createdOn desc"]
)
def test_bad_orderby(value: str) -> None:
    with pytest.raises(ODataError):
        q(orderby=value)


def test_filter_id_ops_become_half_open_ranges() -> None:
    assert (q(filter="id gt 5").id_lo, q(filter="id gt 5").id_hi) == (6, None)
    assert (q(filter="id ge 5").id_lo, q(filter="id ge 5").id_hi) == (5, None)
    assert (q(filter="id lt 5").id_lo, q(filter="id lt 5").id_hi) == (None, 5)
    assert (q(filter="id le 5").id_lo, q(filter="id le 5").id_hi) == (None, 6)
    assert (q(filter="id eq 5").id_lo, q(filter="id eq 5").id_hi) == (5, 6)
    both = q(filter="id gt 5 and id lt 10 and id ge 7")
    assert (both.id_lo, both.id_hi) == (7, 10)


def test_filter_timestamps_quoted_unquoted_and_zones() -> None:
    base = ms("2024-01-02T03:04:05")
    for literal in (
        "2024-01-02T03:04:05",
        "'2024-01-02T03:04:05'",
        "2024-01-02T03:04:05Z",
        "2024-01-02T03:04:05.000Z",
        "datetime'2024-01-02T03:04:05'",
        "2024-01-02T05:04:05+02:00",
        "2024-01-02T03:04:05.0000000",
    ):
        got = q(filter=f"lastUpdatedOn ge {literal}")
        assert got.ts_lo == base, literal
    assert q(filter="lastUpdatedOn gt 2024-01-02T03:04:05").ts_lo == base + 1
    assert q(filter="lastUpdatedOn lt 2024-01-02T03:04:05").ts_hi == base
    assert q(filter="lastUpdatedOn le 2024-01-02T03:04:05").ts_hi == base + 1
    assert q(filter="lastUpdatedOn ge 2024-01-02").ts_lo == ms("2024-01-02T00:00:00")
    # sub-millisecond literals round the right way
    assert q(filter="lastUpdatedOn gt 2024-01-02T03:04:05.0004").ts_lo == base + 1
    assert q(filter="lastUpdatedOn ge 2024-01-02T03:04:05.0004").ts_lo == base + 1
    eq = q(filter="lastUpdatedOn eq 2024-01-02T03:04:05.0004")
    assert eq.ts_lo is not None and eq.ts_hi is not None and eq.ts_lo >= eq.ts_hi  # empty


def test_filter_combined_with_parentheses() -> None:
    got = q(filter="(id gt 10) and (lastUpdatedOn lt '2025-01-01T00:00:00')")
    assert got.id_lo == 11
    assert got.ts_hi == ms("2025-01-01T00:00:00")
    assert got.filtered


@pytest.mark.parametrize(
    "value",
    [
        "",
        "name eq 'x'",
        "id gt 5 or id lt 2",
        "not id gt 5",
        "id ne 5",
        "id gt abc",
        "id gt",
        "lastUpdatedOn gt yesterday",
        "lastUpdatedOn gt 2024-13-01",
        "(id gt 5",
        "id gt 5)",
        "startswith(name,'a')",
        "id gt 5 and",
    ],
)
def test_bad_filters(value: str) -> None:
    with pytest.raises(ODataError):
        q(filter=value)


def test_fields_follow_the_endpoint() -> None:
    got = parse_query([("$filter", "Id gt 3"), ("$orderby", "Id desc")], "Id", None)
    assert (got.id_lo, got.desc) == (4, True)
    with pytest.raises(ODataError):
        parse_query([("$orderby", "lastUpdatedOn")], "Id", None)
    got = parse_query([("$filter", "eventDate ge 2020-01-01")], None, "eventDate")
    assert got.ts_lo == ms("2020-01-01")
    with pytest.raises(ODataError):
        parse_query([("$filter", "id gt 1")], None, "eventDate")
    with pytest.raises(ODataError):
        parse_query([("$orderby", "id")], None, None)
