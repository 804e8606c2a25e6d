"""Durations as the CLI writes them (schemas/durations.py): ``90s``, ``15m``, ``2h``, ``1h30m`` become whole
seconds; every mistake is refused in one plain line naming the option; what ``duration_text`` writes reads
back to the same seconds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.durations import MAX_SECONDS, DurationError, duration_text, parse_duration
from tests.support.plain import assert_plain

EXAMPLES = "e.g. 90s, 15m, 2h or 1h30m"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1),
        ("90s", 90),
        ("15m", 900),
        ("2h", 7200),
        ("1d", 86_400),
        ("1h30m", 5400),
        ("2d12h", 216_000),
        ("1d2h3m4s", 93_784),
        ("1h90m", 9000),  # a part may be larger than the next unit up
        ("007m", 420),
        (" 15m ", 900),  # outer spaces, as a shell might leave them
        ("365d", MAX_SECONDS),
    ],
)
def test_a_duration_is_whole_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", f'--timeout "": empty; write a duration, {EXAMPLES}'),
        ("   ", f'--timeout "   ": empty; write a duration, {EXAMPLES}'),
        ("0s", f"--timeout 0s: is zero; write at least 1s, {EXAMPLES}"),
        ("0", f"--timeout 0: is zero; write at least 1s, {EXAMPLES}"),
        ("0h0m", f"--timeout 0h0m: is zero; write at least 1s, {EXAMPLES}"),
        ("-5m", f"--timeout -5m: is negative; write at least 1s, {EXAMPLES}"),
        ("+5m", f"--timeout +5m: has a sign; write the duration without one, {EXAMPLES}"),
        ("10", "--timeout 10: has no unit; write 10s, 10m or 10h"),
        ("1.5", f"--timeout 1.5: has no unit; write a whole number and a unit, {EXAMPLES}"),
        ("1.5h", "--timeout 1.5h: has a fraction; write 1h30m"),
        ("1.25m", "--timeout 1.25m: has a fraction; write 1m15s"),
        ("0.5s", f"--timeout 0.5s: has a fraction; durations are whole seconds, at least 1s, {EXAMPLES}"),
        ("5x", f"--timeout 5x: unknown unit 'x'; use s (seconds), m (minutes), h (hours) or d (days), {EXAMPLES}"),
        (
            "15min",
            f"--timeout 15min: unknown unit 'min'; use s (seconds), m (minutes), h (hours) or d (days), {EXAMPLES}",
        ),  # fmt: skip
        ("15M", "--timeout 15M: units are lowercase: write 15m"),
        ("30m1h", "--timeout 30m1h: write each unit once, largest first, e.g. 1h30m or 2d12h"),
        ("1h1h", "--timeout 1h1h: write each unit once, largest first, e.g. 1h30m or 2d12h"),
        ("15 m", f'--timeout "15 m": not a duration; write a whole number and a unit, no spaces, {EXAMPLES}'),
        ("h", f"--timeout h: not a duration; write a whole number and a unit, no spaces, {EXAMPLES}"),
        ("１０s", f'--timeout "１０s": not a duration; write a whole number and a unit, no spaces, {EXAMPLES}'),
        ("366d", "--timeout 366d: is longer than 365d (a year), the longest duration accepted"),
        ("1" * 41 + "s", f"--timeout {'1' * 41}s: too long to be a duration, {EXAMPLES}"),
    ],
)
def test_a_mistake_is_refused_in_one_plain_line_naming_the_option(text: str, message: str) -> None:
    with pytest.raises(DurationError) as refusal:
        parse_duration(text, "--timeout")
    assert str(refusal.value) == message
    assert (refusal.value.field, refusal.value.given) == ("--timeout", text)
    assert isinstance(refusal.value, ValueError)  # the control API and the CLI turn it into InvalidInput


def test_the_refusal_of_zero_offers_what_the_command_has_instead() -> None:
    with pytest.raises(DurationError, match=r"^--timeout 0s: is zero; write at least 1s, .*, or --off$"):
        parse_duration("0s", "--timeout", instead_of_zero="--off")


def test_the_field_defaults_to_duration() -> None:
    with pytest.raises(DurationError, match="^duration 5x: unknown unit"):
        parse_duration("5x")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1, "1s"),
        (59, "59s"),
        (60, "1m"),
        (90, "1m30s"),
        (900, "15m"),
        (3600, "1h"),
        (5400, "1h30m"),
        (86_400, "1d"),
        (93_784, "1d2h3m4s"),
        (MAX_SECONDS, "365d"),
    ],  # fmt: skip
)
def test_duration_text_writes_the_largest_units_first(seconds: int, text: str) -> None:
    assert duration_text(seconds) == text


@pytest.mark.parametrize("bad", [-1, True, 1.5, "90"])
def test_duration_text_takes_only_whole_seconds(bad: object) -> None:
    with pytest.raises(ValueError, match="whole number of seconds"):
        duration_text(bad)  # type: ignore[arg-type]


@given(st.integers(min_value=1, max_value=MAX_SECONDS))
def test_what_duration_text_writes_reads_back_to_the_same_seconds(seconds: int) -> None:
    assert parse_duration(duration_text(seconds)) == seconds


duration_like = st.text(alphabet="0123456789.smhdxSMH+- ", max_size=12)


@given(st.one_of(duration_like, st.text(max_size=50)))
def test_any_text_is_a_duration_in_range_or_one_plain_refusal(text: str) -> None:
    try:
        seconds = parse_duration(text, "--after")
    except DurationError as refusal:
        message = str(refusal)
        assert message.startswith("--after ") and "\n" not in message and "\r" not in message
        assert_plain(message, [text])
    else:
        assert 1 <= seconds <= MAX_SECONDS
        assert parse_duration(duration_text(seconds)) == seconds
