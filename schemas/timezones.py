"""The IANA time zones helpdesk-rr accepts: those of the ``tzdata`` package, which every process has.

``zoneinfo`` looks in the host's zone database first (``/usr/share/zoneinfo``), which may hold names
that are not zones of the IANA list (``posixrules``, ``localtime``, the ``right/`` leap-second zones)
or miss new ones. Checking a name by loading it would accept whatever the *checking* machine has,
and a worker elsewhere, with only ``tzdata``, could then not load the stored office hours. So a name
is checked against the zone list that ships with the ``tzdata`` package (a dependency of every
process), and loaded only after that.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schemas.plain import shown


@lru_cache(maxsize=1)
def tzdata_zones() -> frozenset[str]:
    """Every zone name the installed ``tzdata`` package ships (its ``zones`` list)."""
    return frozenset(resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())


def load_zone(name: str) -> ZoneInfo:
    """The zone ``name``, if it is one of tzdata's; otherwise ``ValueError`` with one line naming it."""
    if name not in tzdata_zones():
        close = closest_zones(name)
        hint = f"did you mean {' or '.join(close)}?" if close else "use a tz database name, e.g. Europe/Berlin"
        raise ValueError(f"{shown(name)} is not an IANA time zone name: {hint}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"time zone {shown(name)} cannot be loaded on this machine") from None


@lru_cache(maxsize=1)
def _by_lower_name() -> tuple[dict[str, str], dict[str, str]]:
    """tzdata's zones by lower-case name, and by lower-case last part (``berlin`` → ``Europe/Berlin``)."""
    zones = sorted(tzdata_zones())
    cities: dict[str, str] = {}
    for zone in zones:
        cities.setdefault(zone.rsplit("/", 1)[-1].lower(), zone)
    return {zone.lower(): zone for zone in zones}, cities


def closest_zones(name: str, most: int = 3) -> list[str]:
    """The IANA names closest to a typo, best first (case-insensitive; ``Berlin`` finds ``Europe/Berlin``).

    ``difflib`` on the whole name and on its last part; only the names about as close as the best are
    kept, so ``Europe/Berln`` suggests ``Europe/Berlin`` alone, not every ``Europe/B…``."""
    key = name.strip().lower().replace(" ", "_")
    if len(key) > 64:  # no zone name is this long; and difflib's cost grows with it
        return []
    by_name, by_city = _by_lower_name()
    if key in by_name:
        return [by_name[key]]
    city = key.rsplit("/", 1)[-1]
    scores: dict[str, float] = {}
    for match in difflib.get_close_matches(key, by_name, n=5, cutoff=0.6):
        scores[by_name[match]] = difflib.SequenceMatcher(None, key, match).ratio()
    for match in difflib.get_close_matches(city, by_city, n=5, cutoff=0.75):
        ratio = difflib.SequenceMatcher(None, city, match).ratio()
        scores[by_city[match]] = max(scores.get(by_city[match], 0.0), ratio)
    if not scores:
        return []
    best = max(scores.values())
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return [zone for zone, score in ranked if score >= best - 0.05][:most]
