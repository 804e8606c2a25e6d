"""The burst of bench/burst.py on the split topology: decision state on a local 3-primary Redis Cluster,
the lanes and RQ on one standalone queue shard (bench/topology.py's servers, layout "cluster1").

The baseline is the same no-op drain on that queue shard (the no-op touches no state), in the same repeat.
Redis CPU and SLOWLOG cover every server: the three primaries and the shard.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import redis

from bench.burst import Layout, burst_once, noop_once
from bench.common import ratio
from bench.topology import Servers
from worker.runtime.topology import connect_state


def run_split(url: str, p: dict[str, Any], pycache: Path) -> list[dict[str, Any]]:
    directory = Path(tempfile.mkdtemp(prefix="rr-bench-burst-split-"))
    servers = Servers(url, directory, None)
    runs = []
    try:
        shard = servers.shards[0].url
        queue = redis.Redis.from_url(shard)
        state = connect_state(servers.cluster_url)
        env = {"REDIS_STATE_URL": servers.cluster_url, "REDIS_QUEUE_URLS": shard}
        layout = Layout(state, shard, servers.server_urls("cluster1"), env)
        for repeat in range(p["split_repeats"]):
            noop = noop_once(queue, shard, p, pycache)
            queue.flushdb()
            burst = burst_once(layout, p, pycache)
            burst.update(repeat=repeat, noop_drain_jobs_per_s=noop["drain_jobs_per_s"])
            burst["noop_redis_cpu_ms_per_job"] = noop["redis_cpu_ms_per_job"]
            burst["over_noop"] = round(ratio(burst["drain_tickets_per_s"], noop["drain_jobs_per_s"]), 2)
            runs.append(burst)
            print(
                f"  burst (cluster + 1 queue shard): repeat {repeat}: {burst['drain_tickets_per_s']}/s vs no-op "
                f"{noop['drain_jobs_per_s']}/s = {burst['over_noop']}x; Redis CPU "
                f"{burst['redis_cpu_ms_per_ticket']} ms/ticket; slowlog {burst['slowlog']}",
                flush=True,
            )
        queue.close()
        state.close()
    finally:
        servers.stop()
        shutil.rmtree(directory, ignore_errors=True)
    return runs
