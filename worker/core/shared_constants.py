"""Values the Lua scripts and the Python code must agree on, defined once, here.

The scripts file figures under these bucket bounds (``latency_ms:<bound>``, ``ttfr:<dim>:<bound>``,
docs/STATS.md) and the metrics endpoint and the report read them back under the same bounds. Neither
side hard-codes them: ``worker.core.scripts`` renders them (and the role ranks of
``schemas.common.Role``) into the Lua prelude it sends with every script, and ``worker.ops.metrics``
and ``worker.reports.figures`` import them from here.

Each tuple is the finite upper bounds, ascending whole numbers (bucket names are their decimal text),
then ``math.inf`` for the overflow bucket the scripts name ``inf``.
"""

from __future__ import annotations

import math

LATENCY_BUCKETS_MS: tuple[float, ...] = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, math.inf)
"""Upper bounds (ms) of the decision-latency histogram ``latency_ms:<bucket>`` in ``{rr:pNN}:metrics``."""

TTFR_BUCKETS: tuple[float, ...] = (60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, math.inf)
"""Upper bounds (s) of the time-to-first-reply histograms ``ttfr:<dim>:<bucket>`` in the day's stats hash."""

RELEASE_LEASE_MS = 20_000
"""How long a release of the waiting queue holds the account's lease without a batch (ms). Every batch
renews it; a release whose worker died lets it lapse, and the workers' sweep starts another one
(worker/core/release.py): so a release a dead worker started finishes within about 20 s + a sweep."""

POOL_FULL = 2**50
"""Multiplies an agent's rotation place in a per-channel pool (``pool:<channel>``) while they are at capacity: the
pick takes the head below it, and a pool with members only at or above it means "agents for the channel Online,
all at capacity". Places are counters from 1, far below it, so an agent with room (scored by their place) is
always below it and one at capacity (place × POOL_FULL) never is. A product, not a sum, so Redis can build a
pool in one ZUNIONSTORE (online weighted POOL_FULL, ready weighted 1, AGGREGATE MIN)."""
