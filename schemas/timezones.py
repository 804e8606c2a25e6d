"""The IANA time zones helpdesk-rr accepts: those of the ``tzdata`` package, which every process has.

``zoneinfo`` looks in the host's zone database first (``/usr/share/zoneinfo``), which may hold names
that are not zones of the IANA list (``posixrules``, ``localtime``, the ``right/`` leap-second zones)
or miss new ones. Checking a name by loading it would accept whatever the *checking* machine has,
and a worker elsewhere, with only ``tzdata``, could then not load the stored office hours. So a name
is checked against the zone list that ships with the ``tzdata`` package (a dependency of every
process), and loaded only after that.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@lru_cache(maxsize=1)
def tzdata_zones() -> frozenset[str]:
    """Every zone name the installed ``tzdata`` package ships (its ``zones`` list)."""
    return frozenset(resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())


def load_zone(name: str) -> ZoneInfo:
    """The zone ``name``, if it is one of tzdata's; otherwise ``ValueError`` with one line naming it."""
    if name not in tzdata_zones():
        raise ValueError(f"timezone {name!r} is not an IANA time zone name (e.g. 'Europe/Berlin')")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"timezone {name!r} cannot be loaded on this machine") from None
