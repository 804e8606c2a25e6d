"""Office hours the engine and cache tests share: Berlin weekdays, and Berlin wall-clock instants."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from schemas.office_hours import OfficeHours

BERLIN_WEEKDAYS = OfficeHours.from_specs("Europe/Berlin", ["mon-fri 09:00-17:00"], ["2026-12-25"])


def berlin(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """An instant in Berlin in 2026 (November unless ``month`` says otherwise)."""
    return datetime(2026, month, day, hour, minute, tzinfo=ZoneInfo("Europe/Berlin"))
