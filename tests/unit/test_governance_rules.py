"""The pure parts of contact governance: the global cap setting and quiet-hour
arithmetic in the contact's time zone (across a daylight-saving change)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine import contact_rules
from workers.services import governance


def test_parse_global_cap():
    assert governance.parse_global_cap("5/7d") == governance.GlobalCap(5, timedelta(days=7))
    assert governance.parse_global_cap(" 2 / 12h ") == governance.GlobalCap(2, timedelta(hours=12))
    assert governance.parse_global_cap("3/1w") == governance.GlobalCap(3, timedelta(days=7))


def test_bad_global_cap_says_what_is_expected():
    with pytest.raises(ValueError) as raised:
        governance.parse_global_cap("five a week")
    assert str(raised.value) == (
        "PLAYBOOK_GLOBAL_EMAIL_CAP='five a week' is not a cap; expected N/PERIOD, e.g. 5/7d "
        "(units: s, m, h, d, w)"
    )


def test_global_cap_from_env():
    assert governance.global_cap_from_env({}) is None
    assert governance.global_cap_from_env({"PLAYBOOK_GLOBAL_EMAIL_CAP": "4/30d"}) == (
        governance.GlobalCap(4, timedelta(days=30))
    )


NY = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("local_hour", "quiet"),
    [(19, False), (20, True), (23, True), (0, True), (7, True), (8, False), (12, False)],
)
def test_quiet_hours_span_midnight(local_hour, quiet):
    at = datetime(2027, 1, 4, local_hour, 30, tzinfo=NY)
    assert contact_rules.quiet(at, NY, (20, 8)) is quiet


def test_daytime_quiet_hours_and_none():
    at = datetime(2027, 1, 4, 13, 0, tzinfo=NY)
    assert contact_rules.quiet(at, NY, (12, 14)) is True
    assert contact_rules.quiet(at, NY, None) is False
    assert contact_rules.quiet(at, NY, (8, 8)) is False


def test_quiet_end_crosses_the_daylight_saving_change():
    # 22:00 on Sat 2027-03-13 in New York (EST); clocks go forward that night.
    at = datetime(2027, 3, 13, 22, 0, tzinfo=NY)
    end = contact_rules.quiet_end(at, NY, (20, 8))
    assert end == datetime(2027, 3, 14, 12, 0, tzinfo=UTC)  # 08:00 EDT = 12:00 UTC


def test_quiet_end_after_midnight_is_the_same_morning():
    at = datetime(2027, 1, 5, 2, 0, tzinfo=NY)
    assert contact_rules.quiet_end(at, NY, (20, 8)) == datetime(2027, 1, 5, 13, 0, tzinfo=UTC)


def test_unknown_time_zone_falls_back_to_utc_and_says_so():
    zone, note = contact_rules.zone_of("Mars/Olympus")
    assert zone == ZoneInfo("UTC")
    assert note == "UTC (unknown time zone 'Mars/Olympus')"
