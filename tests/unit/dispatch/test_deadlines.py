from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from shared.deadlines import (
    CHINA,
    DEFAULT_TIERS,
    CalendarYear,
    ClockName,
    Duration,
    PriorityTier,
    StepLimits,
    TimeLimits,
    WorkCalendar,
    deadline,
    warn_time,
)

CALENDAR_2026 = (
    Path(__file__).resolve().parents[3] / "services" / "dispatch" / "data" / "calendar-2026.yaml"
)


class Limit(BaseModel):
    value: Duration


@pytest.fixture(scope="module")
def year_2026() -> CalendarYear:
    return CalendarYear.model_validate(yaml.safe_load(CALENDAR_2026.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def calendar(year_2026) -> WorkCalendar:
    return WorkCalendar.of([year_2026])


def china(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=CHINA)


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["30m", "2h", "7d", "5wd", "3cd", "20s", "1.5h"])
def test_a_number_with_a_known_unit_is_a_duration(text):
    assert Limit(value=text).value == text


@pytest.mark.parametrize("text", ["7", "2x", "1.5d", "2.5wd", "0h", "0d", "-2h", "2 h", "h", ""])
def test_a_duration_without_a_unit_a_fraction_of_a_day_or_nothing_positive_is_refused(text):
    with pytest.raises(ValidationError):
        Limit(value=text)


def test_the_refusal_of_a_fractional_day_says_days_must_be_whole():
    with pytest.raises(ValidationError, match="Days must be whole"):
        StepLimits(feedback="1.5d")


def test_the_refusal_of_a_zero_duration_says_it_must_be_positive():
    with pytest.raises(ValidationError, match="must be positive"):
        StepLimits(sign="0m")


def test_step_limits_refuse_a_bad_duration_in_any_clock():
    for clock in ClockName:
        with pytest.raises(ValidationError):
            StepLimits(**{clock.value: "2x"})


def test_step_limits_refuse_a_clock_they_do_not_know():
    with pytest.raises(ValidationError):
        StepLimits(close="2h")


def test_a_step_limit_is_read_by_its_clock_and_a_missing_one_is_none():
    limits = StepLimits(sign="15m", feedback="2h")
    assert limits.limit(ClockName.SIGN) == "15m"
    assert limits.limit(ClockName.FEEDBACK) == "2h"
    assert limits.limit(ClockName.CONTACT) is None


def test_limits_over_a_base_keep_the_base_where_they_say_nothing():
    merged = StepLimits(sign="5m").over(StepLimits(sign="1h", contact="2h", feedback="1d"))
    assert merged == StepLimits(sign="5m", contact="2h", feedback="1d")


# --- a year's calendar -------------------------------------------------------------------------


def test_the_packaged_2026_calendar_is_valid(year_2026):
    assert year_2026.year == 2026
    assert year_2026.source
    national_day = next(h for h in year_2026.holidays if h.name == "国庆节")
    assert (national_day.first, national_day.last) == (date(2026, 10, 1), date(2026, 10, 7))
    assert date(2026, 10, 10) in {w.date for w in year_2026.workdays}


def test_holiday_dates_are_read_from_the_from_and_to_keys():
    year = CalendarYear.model_validate(
        {"year": 2026, "holidays": [{"name": "劳动节", "from": "2026-05-01", "to": "2026-05-05"}]}
    )
    assert year.holidays[0].first == date(2026, 5, 1)
    assert year.holidays[0].last == date(2026, 5, 5)


def test_a_make_up_workday_on_a_weekday_is_refused():
    # 2026-10-09 is a Friday.
    with pytest.raises(ValidationError, match="须为周末"):
        CalendarYear(year=2026, workdays=[{"date": date(2026, 10, 9)}])


def test_a_make_up_workday_outside_the_year_is_refused():
    # 2025-12-27 is a Saturday, so only the year is wrong.
    with pytest.raises(ValidationError, match="outside the year"):
        CalendarYear(year=2026, workdays=[{"date": date(2025, 12, 27)}])


def test_a_holiday_reaching_outside_the_year_is_refused():
    with pytest.raises(ValidationError, match="outside the year"):
        CalendarYear.model_validate(
            {"year": 2026, "holidays": [{"name": "元旦", "from": "2025-12-31", "to": "2026-01-02"}]}
        )


def test_a_holiday_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValidationError, match="ends before it starts"):
        CalendarYear.model_validate(
            {
                "year": 2026,
                "holidays": [{"name": "国庆节", "from": "2026-10-07", "to": "2026-10-01"}],
            }
        )


def test_a_day_that_is_both_a_holiday_and_a_workday_is_refused():
    # 2026-10-03 is a Saturday inside the National Day holiday.
    with pytest.raises(ValidationError, match="both off and on"):
        CalendarYear.model_validate(
            {
                "year": 2026,
                "holidays": [{"name": "国庆节", "from": "2026-10-01", "to": "2026-10-07"}],
                "workdays": [{"date": "2026-10-03"}],
            }
        )


def test_a_year_outside_2000_to_2100_is_refused():
    with pytest.raises(ValidationError):
        CalendarYear(year=1999)
    with pytest.raises(ValidationError):
        CalendarYear(year=2101)


def test_a_calendar_is_read_from_csv_rows_in_english_or_chinese_kinds():
    text = (
        "date,kind,name\n"
        "2026-10-01,holiday,国庆节\n"
        "2026-10-02,休,国庆节\n"
        "2026-09-20,workday,国庆节调休上班\n"
        "2026-10-10,班,\n"
    )
    year = CalendarYear.from_csv(text)
    assert year.year == 2026
    assert [(h.first, h.last, h.name) for h in year.holidays] == [
        (date(2026, 10, 1), date(2026, 10, 1), "国庆节"),
        (date(2026, 10, 2), date(2026, 10, 2), "国庆节"),
    ]
    assert [(w.date, w.name) for w in year.workdays] == [
        (date(2026, 9, 20), "国庆节调休上班"),
        (date(2026, 10, 10), "调休上班"),
    ]


def test_a_csv_calendar_tolerates_a_byte_order_mark_and_blank_rows():
    year = CalendarYear.from_csv("\ufeffdate,kind,name\n2026-10-01,holiday,国庆节\n,,\n")
    assert [h.first for h in year.holidays] == [date(2026, 10, 1)]


def test_a_csv_holiday_without_a_name_is_called_a_holiday():
    year = CalendarYear.from_csv("date,kind,name\n2026-10-01,holiday,\n")
    assert year.holidays[0].name == "假日"


def test_a_csv_row_of_an_unknown_kind_is_refused_with_the_kind_named():
    with pytest.raises(ValueError, match="「off」"):
        CalendarYear.from_csv("date,kind,name\n2026-10-01,off,国庆节\n")


def test_a_csv_calendar_spanning_two_years_is_refused_without_a_year():
    text = "date,kind,name\n2025-12-31,holiday,元旦\n2026-01-01,holiday,元旦\n"
    with pytest.raises(ValueError, match="exactly one year"):
        CalendarYear.from_csv(text)


def test_a_csv_calendar_with_a_given_year_still_refuses_days_of_another_year():
    text = "date,kind,name\n2025-12-31,holiday,元旦\n2026-01-01,holiday,元旦\n"
    with pytest.raises(ValidationError, match="outside the year"):
        CalendarYear.from_csv(text, year=2026)


def test_a_csv_calendar_of_one_year_may_also_name_it():
    year = CalendarYear.from_csv("date,kind,name\n2026-10-01,holiday,国庆节\n", year=2026)
    assert year.year == 2026


def test_a_csv_make_up_workday_on_a_weekday_is_refused():
    with pytest.raises(ValidationError, match="须为周末"):
        CalendarYear.from_csv("date,kind,name\n2026-10-09,班,调休\n")


# --- working days ------------------------------------------------------------------------------


def test_the_national_day_week_is_seven_rest_days(calendar):
    for day in range(1, 8):
        assert not calendar.is_working_day(date(2026, 10, day))
    assert calendar.is_working_day(date(2026, 10, 8))


def test_a_make_up_saturday_counts_as_a_working_day(calendar):
    assert calendar.is_working_day(date(2026, 10, 10))


def test_a_make_up_sunday_counts_as_a_working_day(calendar):
    assert calendar.is_working_day(date(2026, 9, 20))


def test_an_ordinary_saturday_and_sunday_are_rest_days(calendar):
    assert not calendar.is_working_day(date(2026, 10, 17))
    assert not calendar.is_working_day(date(2026, 10, 18))


def test_an_ordinary_weekday_is_a_working_day(calendar):
    assert calendar.is_working_day(date(2026, 11, 18))


def test_the_spring_festival_make_up_saturday_works_and_the_festival_rests(calendar):
    assert calendar.is_working_day(date(2026, 2, 14))
    assert not calendar.is_working_day(date(2026, 2, 16))  # a Monday of 春节


def test_a_calendar_of_no_years_knows_only_weekdays():
    empty = WorkCalendar.of([])
    assert empty.is_working_day(date(2026, 10, 1))  # a Thursday
    assert not empty.is_working_day(date(2026, 10, 10))  # a Saturday
    assert empty.years == frozenset()


def test_the_calendar_remembers_which_years_it_was_given(calendar):
    assert calendar.years == frozenset({2026})


def test_three_working_days_from_the_eve_of_national_day_end_on_the_make_up_saturday(calendar):
    start = china(2026, 9, 30, 15, 0)
    assert calendar.add_working_days(start, 3) == china(2026, 10, 10, 15, 0)
    assert deadline(start, "3wd", calendar) == china(2026, 10, 10, 15, 0)


def test_days_counted_as_working_days_skip_the_holiday_like_wd(calendar):
    start = china(2026, 9, 30, 15, 0)
    assert deadline(start, "3d", calendar, "working") == china(2026, 10, 10, 15, 0)


def test_one_working_day_from_a_holiday_runs_to_the_end_of_the_first_working_day(calendar):
    # Filed on Saturday 3 October: counting starts at 00:00 of Thursday 8 October.
    due = deadline(china(2026, 10, 3, 10, 0), "1wd", calendar)
    assert due == china(2026, 10, 9, 0, 0)


def test_one_working_day_from_an_ordinary_saturday_is_due_at_the_end_of_monday(calendar):
    due = deadline(china(2026, 11, 21, 10, 30), "1wd", calendar)
    assert due == china(2026, 11, 24, 0, 0)


def test_one_working_day_from_a_friday_is_monday_at_the_same_time(calendar):
    assert deadline(china(2026, 11, 20, 16, 45), "1wd", calendar) == china(2026, 11, 23, 16, 45)


def test_a_working_day_from_a_make_up_saturday_counts_from_that_saturday(calendar):
    # 10 October works, so its time of day is kept; the next working day is Monday 12th.
    assert deadline(china(2026, 10, 10, 9, 0), "1wd", calendar) == china(2026, 10, 12, 9, 0)


def test_five_working_days_span_a_weekend(calendar):
    assert deadline(china(2026, 11, 18, 9, 0), "5wd", calendar) == china(2026, 11, 25, 9, 0)


def test_a_year_not_loaded_counts_weekdays_only_and_is_reported_missing(calendar):
    start = china(2026, 12, 31, 10, 0)  # Thursday
    due = deadline(start, "1wd", calendar)
    assert due == china(2027, 1, 1, 10, 0)  # Friday, a weekday in an unknown year
    assert calendar.missing_years(start, due) == [2027]


def test_no_year_is_missing_when_the_deadline_stays_in_a_loaded_year(calendar):
    start = china(2026, 9, 30, 15, 0)
    assert calendar.missing_years(start, deadline(start, "3wd", calendar)) == []


def test_missing_years_are_judged_in_china_time(calendar):
    # 31 December 16:30 UTC is already 1 January 00:30 in China.
    start = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)
    assert calendar.missing_years(start, start) == [2027]


def test_missing_years_lists_every_year_between_start_and_end():
    empty = WorkCalendar.of([])
    assert empty.missing_years(china(2026, 6, 1), china(2028, 6, 1)) == [2026, 2027, 2028]


def test_a_utc_start_gives_a_utc_result_at_the_same_instant(calendar):
    # 07:00 UTC is 15:00 in China on the eve of National Day.
    start = datetime(2026, 9, 30, 7, 0, tzinfo=UTC)
    due = deadline(start, "3wd", calendar)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 10, 10, 7, 0, tzinfo=UTC)
    assert due == china(2026, 10, 10, 15, 0)


def test_a_utc_start_on_a_chinese_holiday_counts_from_china_s_day(calendar):
    # 30 September 17:00 UTC is 1 October 01:00 in China: a holiday there.
    start = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)
    assert deadline(start, "1wd", calendar) == china(2026, 10, 9, 0, 0)


@pytest.mark.parametrize(
    ("limit", "elapsed"),
    [
        ("20s", timedelta(seconds=20)),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1.5h", timedelta(minutes=90)),
        ("48h", timedelta(hours=48)),
    ],
)
def test_hours_minutes_and_seconds_are_elapsed_time_even_over_a_holiday(calendar, limit, elapsed):
    start = china(2026, 9, 30, 23, 0)
    assert deadline(start, limit, calendar) == start + elapsed
    assert deadline(start, limit, calendar, "working") == start + elapsed


def test_calendar_days_are_whole_days_of_24_hours_across_a_holiday(calendar):
    start = china(2026, 9, 30, 15, 0)
    assert deadline(start, "7d", calendar, "calendar") == start + timedelta(days=7)
    assert deadline(start, "7d", calendar) == china(2026, 10, 7, 15, 0)


def test_cd_is_calendar_days_even_when_days_are_working_days(calendar):
    start = china(2026, 9, 30, 15, 0)
    assert deadline(start, "7cd", calendar, "working") == start + timedelta(days=7)


def test_wd_is_working_days_even_when_days_are_calendar_days(calendar):
    start = china(2026, 9, 30, 15, 0)
    assert deadline(start, "1wd", calendar, "calendar") == china(2026, 10, 8, 15, 0)


def test_the_warning_comes_when_the_share_of_the_clock_has_run():
    start = china(2026, 11, 20, 9, 0)
    due = start + timedelta(hours=10)
    assert warn_time(start, due, 0.8) == start + timedelta(hours=8)
    assert warn_time(start, due, 0.5) == start + timedelta(hours=5)


def test_the_warning_of_a_working_day_deadline_is_a_share_of_the_elapsed_time(calendar):
    start = china(2026, 9, 30, 15, 0)
    due = deadline(start, "3wd", calendar)  # ten days later
    assert warn_time(start, due, 0.8) == start + timedelta(days=8)


# --- time limits -------------------------------------------------------------------------------


def test_the_default_feedback_limits_are_beijing_s():
    limits = TimeLimits()
    feedback = {tier: limits.tiers[tier].feedback for tier in PriorityTier}
    assert feedback == {
        PriorityTier.EMERGENCY: "2h",
        PriorityTier.UTILITY: "24h",
        PriorityTier.GENERAL: "7d",
        PriorityTier.COMPLEX: "15d",
    }


def test_the_default_settings_count_calendar_days_and_warn_at_eighty_percent():
    limits = TimeLimits()
    assert limits.days == "calendar"
    assert limits.warn_at == 0.8
    assert limits.returns_before_arbitration == 2


def test_every_default_tier_has_all_three_clocks():
    for tier, steps in DEFAULT_TIERS.items():
        assert None not in (steps.sign, steps.contact, steps.feedback), tier


def test_a_partial_tier_override_keeps_the_other_defaults():
    limits = TimeLimits.model_validate({"tiers": {"general": {"sign": "1h"}}})
    general = limits.tiers[PriorityTier.GENERAL]
    assert general == StepLimits(sign="1h", contact="24h", feedback="7d")
    assert limits.tiers[PriorityTier.EMERGENCY] == DEFAULT_TIERS[PriorityTier.EMERGENCY]
    assert set(limits.tiers) == set(PriorityTier)


def test_overriding_a_tier_does_not_change_the_defaults_of_another_city():
    TimeLimits.model_validate({"tiers": {"general": {"sign": "1h"}}})
    assert TimeLimits().tiers[PriorityTier.GENERAL].sign == "2h"
    assert DEFAULT_TIERS[PriorityTier.GENERAL].sign == "2h"


def test_a_tier_override_with_a_bad_duration_is_refused():
    with pytest.raises(ValidationError):
        TimeLimits.model_validate({"tiers": {"general": {"feedback": "7x"}}})


def test_an_unknown_tier_is_refused():
    with pytest.raises(ValidationError):
        TimeLimits.model_validate({"tiers": {"urgent": {"sign": "1h"}}})


def test_an_order_without_a_category_override_takes_its_tier_s_limits():
    limits = TimeLimits()
    steps = limits.for_order(PriorityTier.UTILITY, "water-supply", "dispatch")
    assert steps == DEFAULT_TIERS[PriorityTier.UTILITY]
    assert (
        limits.for_order(PriorityTier.GENERAL, None, "dispatch")
        == (DEFAULT_TIERS[PriorityTier.GENERAL])
    )


def test_a_category_override_wins_over_the_tier_and_keeps_the_rest_of_it():
    limits = TimeLimits.model_validate({"categories": {"elevator": {"feedback": "4h"}}})
    steps = limits.for_order(PriorityTier.UTILITY, "elevator", "dispatch")
    assert steps == StepLimits(sign="1h", contact="4h", feedback="4h")
    other = limits.for_order(PriorityTier.UTILITY, "water-supply", "dispatch")
    assert other.feedback == "24h"


def test_a_category_override_builds_on_a_tier_override():
    limits = TimeLimits.model_validate(
        {
            "tiers": {"general": {"contact": "12h"}},
            "categories": {"parking": {"feedback": "3d"}},
        }
    )
    steps = limits.for_order(PriorityTier.GENERAL, "parking", "reroute")
    assert steps == StepLimits(sign="2h", contact="12h", feedback="3d")


def test_a_whistle_order_has_thirty_minutes_to_sign_whatever_its_tier_or_category():
    limits = TimeLimits.model_validate({"categories": {"parking": {"sign": "5h"}}})
    steps = limits.for_order(PriorityTier.COMPLEX, "parking", "whistle")
    assert steps.sign == "30m"
    assert steps.feedback == "24h"
    assert steps.contact is None


def test_escalation_and_deliberation_orders_use_their_own_limits():
    limits = TimeLimits()
    assert limits.for_order(PriorityTier.EMERGENCY, None, "escalation") == StepLimits(
        sign="2h", feedback="24h"
    )
    assert limits.for_order(PriorityTier.EMERGENCY, None, "deliberation") == StepLimits(
        sign="1d", feedback="15d"
    )


def test_a_city_may_set_its_own_whistle_escalation_and_deliberation_limits():
    limits = TimeLimits.model_validate(
        {
            "whistle": {"sign": "15m", "feedback": "12h"},
            "escalation": {"sign": "1h", "feedback": "2d"},
            "deliberation": {"feedback": "10wd"},
        }
    )
    assert limits.for_order(PriorityTier.GENERAL, None, "whistle").sign == "15m"
    assert limits.for_order(PriorityTier.GENERAL, None, "escalation").feedback == "2d"
    # A partial override keeps the other default (deliberation orders are signed within a day).
    assert limits.for_order(PriorityTier.GENERAL, None, "deliberation") == StepLimits(
        sign="1d", feedback="10wd"
    )


@pytest.mark.parametrize("warn_at", [0, 1, -0.1, 1.5])
def test_the_warning_share_must_lie_strictly_between_zero_and_one(warn_at):
    with pytest.raises(ValidationError):
        TimeLimits(warn_at=warn_at)


def test_a_warning_share_inside_the_clock_is_accepted():
    assert TimeLimits(warn_at=0.5).warn_at == 0.5


@pytest.mark.parametrize("purpose", ["whistle", "escalation", "deliberation"])
def test_a_special_order_keeps_a_feedback_clock_when_a_city_leaves_it_out(purpose):
    limits = TimeLimits.model_validate({purpose: {"sign": "30m", "feedback": None}})
    steps = limits.for_order(PriorityTier.GENERAL, None, purpose)
    assert steps.sign == "30m" and steps.feedback == getattr(TimeLimits(), purpose).feedback


def test_days_are_either_calendar_or_working_days():
    assert TimeLimits(days="working").days == "working"
    with pytest.raises(ValidationError):
        TimeLimits(days="lunar")


def test_returns_before_arbitration_are_between_one_and_ten():
    assert TimeLimits(returns_before_arbitration=10).returns_before_arbitration == 10
    with pytest.raises(ValidationError):
        TimeLimits(returns_before_arbitration=0)
    with pytest.raises(ValidationError):
        TimeLimits(returns_before_arbitration=11)


def test_time_limits_refuse_a_setting_they_do_not_know():
    with pytest.raises(ValidationError):
        TimeLimits.model_validate({"holidays": "cn"})


@pytest.mark.parametrize("limit", ["99999999d", "2000wd", "50000h", "1900cd"])
def test_a_limit_longer_than_five_years_is_refused(limit):
    with pytest.raises(ValidationError, match="five years"):
        StepLimits(feedback=limit)


def test_a_limit_of_five_years_in_working_days_is_computed_quickly():
    start = datetime(2026, 9, 30, 7, 0, tzinfo=UTC)
    due = deadline(start, "1300wd", WorkCalendar())
    assert due.year == 2031
