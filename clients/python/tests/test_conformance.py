"""The conformance data set (shared/conformance) loaded through the client and every key of the expected
results reproduced through ``query`` and ``export``, in UTC and in America/New_York.

Unfinished periods (PROTOCOL.md 4.25): a value of a day after the store's last day, or of a period that ends
after it, must come back as ``None`` (the expected files hold computed numbers or 0 there); every other value
must equal the expected one.
"""

from __future__ import annotations

import datetime
from typing import Any, Dict, List, Tuple

import pytest

from conftest import Loaded, conformance_dir

RANGE = {"from_": "2026-01-01", "to": "2026-03-31"}

#: Every key of expected.json: the query that reproduces it.
QUERIES: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "activity": ("activity", RANGE),
    "activity_paid_search": ("activity", {**RANGE, "where": {"acquisition_channel": "paid_search"}}),
    "activity_by_region": ("activity", {**RANGE, "by": "region"}),
    "active_days_2026-01": ("active_days", {"month": "2026-01"}),
    "active_days_2026-02": ("active_days", {"month": "2026-02"}),
    "active_days_2026-03": ("active_days", {"month": "2026-03"}),
    "tiers_month_2026-01": ("tiers", {"month": "2026-01"}),
    "tiers_month_2026-02": ("tiers", {"month": "2026-02"}),
    "tiers_month_2026-03": ("tiers", {"month": "2026-03"}),
    "tiers_asof_2026-03-31": ("tiers", {"as_of": "2026-03-31"}),
    "tiers_asof_2026-02-19": ("tiers", {"as_of": "2026-02-19"}),
    "transitions_2026-01": ("transitions", {"month": "2026-01"}),
    "transitions_2026-02": ("transitions", {"month": "2026-02"}),
    "retention_month": ("retention", {**RANGE, "period": "month", "periods": 3}),
    "retention_week": ("retention", {**RANGE, "period": "week", "periods": 8}),
    "lifecycle_week": ("lifecycle", {**RANGE, "period": "week"}),
    "sessions": ("sessions", RANGE),
}
#: Keys reproduced through ``export``: table, and the expected rows' columns.
EXPORTS = {"daily_activity": "daily-activity", "sessions_table": "sessions"}


def test_every_expected_key_is_covered() -> None:
    import json

    keys = set(json.loads((conformance_dir() / "expected.json").read_text())) - {"_params"}
    assert keys == set(QUERIES) | set(EXPORTS)


def test_load_counts(conformance: Loaded) -> None:
    counts = conformance.expected["_params"]["counts"]
    assert (conformance.actions.accepted, conformance.actions.rejected) == (8, 0)
    assert (conformance.users.accepted, conformance.users.rejected) == (119, 0)
    assert conformance.events.accepted == counts["unique_events"] == 30979
    assert conformance.events.duplicates == counts["raw_events"] - counts["unique_events"] == 619
    assert conformance.events.rejections == []
    stats = conformance.stats
    assert stats["events"] == counts["unique_events"]
    assert stats["duplicates"] == 619
    assert stats["users"] == counts["users"] == 142
    assert stats["actions"] == 9  # 8 defined + 'share' registered from events
    assert stats["time_zone"] == conformance.timezone
    assert stats["first_day"] <= "2026-01-01" and stats["last_day"] >= "2026-03-31"


def test_bad_events_are_each_rejected_with_a_reason(conformance: Loaded) -> None:
    lines = (conformance_dir() / "bad_events.jsonl").read_text(encoding="utf-8").splitlines()
    # The last line is not JSON at all: nothing a dict-taking API can be given.
    import json

    events = [json.loads(line) for line in lines if line.startswith('{"')]
    assert len(events) == len(lines) - 1
    with conformance.server.client() as client:
        before = client.stats()
        result = client.ingest(events)
        client.wait_applied()
        after = client.stats()
    assert result.accepted == 0 and result.duplicates == 0
    assert [(r.index, r.reason) for r in result.rejections] == [
        (0, "invalid_user_id"), (1, "invalid_user_id"), (2, "invalid_timestamp"), (3, "timestamp_out_of_range"),
        (4, "timestamp_out_of_range"), (5, "invalid_action"), (6, "missing_field"),
    ]
    assert [r.code for r in result.rejections] == [1, 1, None, 4, 4, 3, None]
    assert (after["events"], after["users"], after["actions"]) == (before["events"], before["users"], before["actions"])


def period_end(period: str, start: datetime.date) -> datetime.date:
    if period == "day":
        return start
    if period == "week":
        return start + datetime.timedelta(days=6)
    next_month = (start.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return next_month - datetime.timedelta(days=1)


def add_periods(period: str, start: datetime.date, count: int) -> datetime.date:
    if period == "day":
        return start + datetime.timedelta(days=count)
    if period == "week":
        return start + datetime.timedelta(weeks=count)
    month = start.year * 12 + start.month - 1 + count
    return datetime.date(month // 12, month % 12 + 1, 1)


def unfinished_fields(query: str, params: Dict[str, Any], row: Dict[str, Any], last_day: datetime.date) -> Tuple[str, ...]:
    """The fields of ``row`` that are unknown by the unfinished-period rule (PROTOCOL.md 4.25)."""
    if query == "activity" and datetime.date.fromisoformat(row["date"]) > last_day:
        return ("dau", "wau", "mau", "dau_mau", "dau_wau")
    if query == "retention":
        period = params["period"]
        start = add_periods(period, datetime.date.fromisoformat(row["cohort"]), row["period_offset"])
        if period_end(period, start) > last_day:
            return ("retained", "rate")
    if query == "lifecycle" and period_end(params["period"], datetime.date.fromisoformat(row["period"])) > last_day:
        return ("new", "returning", "resurrecting", "dormant")
    return ()


def assert_rows_match(query: str, params: Dict[str, Any], actual: List[Dict[str, Any]],
                      expected: List[Dict[str, Any]], last_day: datetime.date) -> None:
    assert len(actual) == len(expected)
    for index, (got, want) in enumerate(zip(actual, expected)):
        assert set(got) == set(want), f"row {index}: columns {sorted(got)} != {sorted(want)}"
        unknown = unfinished_fields(query, params, got, last_day)
        for column, value in got.items():
            if column in unknown:
                assert value is None, f"row {index} {column}: {value!r} in an unfinished period ({got})"
            else:
                assert value == want[column], f"row {index} {column}: {value!r} != {want[column]!r} ({got})"


@pytest.mark.parametrize("key", sorted(QUERIES))
def test_expected_query(conformance: Loaded, key: str) -> None:
    query, params = QUERIES[key]
    with conformance.server.client() as client:
        rows = client.query(query, **params)
    last_day = datetime.date.fromisoformat(conformance.stats["last_day"])
    assert_rows_match(query, params, rows, conformance.expected[key], last_day)
    if key in ("lifecycle_week", "retention_week", "retention_month"):  # the rule is exercised
        assert any(unfinished_fields(query, params, row, last_day) for row in rows)


@pytest.mark.parametrize("key", sorted(EXPORTS))
def test_expected_export(conformance: Loaded, key: str) -> None:
    expected = conformance.expected[key]
    columns = list(expected[0])
    with conformance.server.client() as client:
        # A small page size makes the export take many pages (cursors round-trip).
        rows = list(client.export(EXPORTS[key], from_="2026-01-01", to="2026-03-31", page_size=701))
    assert len(rows) == len(expected)

    def canonical(row: Dict[str, Any]) -> Tuple[Any, ...]:
        return tuple(row[column] for column in columns)

    assert sorted(map(canonical, rows)) == sorted(map(canonical, expected))


def test_async_client_gives_the_same_rows(conformance: Loaded) -> None:
    import asyncio

    from engage_client import AsyncClient

    async def run() -> Dict[str, Any]:
        async with AsyncClient(conformance.server.address) as client:
            keys = sorted(QUERIES)
            results = await asyncio.gather(*(client.query(QUERIES[k][0], **QUERIES[k][1]) for k in keys))
            exported = [row async for row in client.export("daily-activity", from_="2026-01-01", to="2026-03-31")]
            return {**dict(zip(keys, results)), "daily_activity": exported}

    results = asyncio.run(run())
    with conformance.server.client() as client:
        for key, (query, params) in QUERIES.items():
            assert results[key] == client.query(query, **params), key
        assert results["daily_activity"] == list(client.export("daily-activity", from_="2026-01-01", to="2026-03-31"))
    assert len(results["daily_activity"]) == len(conformance.expected["daily_activity"])
