"""``helpdesk-rr metrics``: the collector reads docs/STATS.md's keys and RQ's queue at scrape time."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from producers.lanes import lane_of, push_many
from producers.queue import QUEUE_NAME, build_ticket, enqueue
from schemas.office_hours import OfficeHours
from tests.support.accounts import TicketFactory, setup_account
from worker.core.engine import Engine
from worker.core.keys import AccountKeys, partition_accounts, partition_metrics
from worker.ops.metrics import HelpdeskCollector, build_registry, metrics_client
from worker.runtime.failures import failed_registry
from worker.runtime.malformed import record

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday (as support.accounts.NOW): 16:00 in Berlin
PARTITIONS = 4
ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "helpdesk-rr"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "worker.cli"]
SERIES = (
    "helpdesk_rr_redis_up",
    "helpdesk_rr_queue_depth",
    "helpdesk_rr_jobs_started",
    "helpdesk_rr_jobs_failed",
    "helpdesk_rr_decisions_total",
    "helpdesk_rr_decision_latency_seconds_bucket",
    "helpdesk_rr_decision_latency_seconds_sum",
    "helpdesk_rr_decision_latency_seconds_count",
    "helpdesk_rr_online_agents",
    "helpdesk_rr_unassigned_tickets",
    "helpdesk_rr_office_open",
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: redis.Redis, partitions: int | None = PARTITIONS) -> tuple[str, Samples]:
    text = generate_latest(build_registry(client, partitions=partitions, clock=lambda: NOW)).decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


def put_account(client: redis.Redis, account: str, *, online: int = 0, unassigned: int = 0) -> AccountKeys:
    keys = AccountKeys.for_account(account, PARTITIONS)
    client.sadd(partition_accounts(keys.partition), account)
    for index in range(online):
        client.zadd(keys.online, {f"agent{index}": index})
    for index in range(unassigned):
        client.zadd(keys.unassigned, {f"t{index}": 1_700_000_000_000 + index})
    return keys


def put_office_hours(client: redis.Redis, keys: AccountKeys, hours: OfficeHours, *, active: bool = True) -> None:
    client.hset(keys.settings, mapping={"office_hours": hours.model_dump_json(), "oh_active": "1" if active else "0"})


def test_empty_redis_reports_zeros_and_no_account_series(real_redis: redis.Redis) -> None:
    _text, samples = scrape(real_redis)
    assert value(samples, "helpdesk_rr_redis_up") == 1
    for gauge in ("helpdesk_rr_queue_depth", "helpdesk_rr_jobs_started", "helpdesk_rr_jobs_failed"):
        assert value(samples, gauge) == 0
    assert value(samples, "helpdesk_rr_decision_latency_seconds_count") == 0
    assert value(samples, "helpdesk_rr_decision_latency_seconds_sum") == 0
    assert value(samples, "helpdesk_rr_decision_latency_seconds_bucket", le="+Inf") == 0
    assert value(samples, "helpdesk_rr_decision_latency_seconds_bucket", le="0.005") == 0
    assert not {"helpdesk_rr_decisions_total", "helpdesk_rr_online_agents", "helpdesk_rr_office_open"} & names(samples)


def test_decisions_are_summed_over_partitions(real_redis: redis.Redis) -> None:
    real_redis.hset(
        partition_metrics(0),
        mapping={"decisions:assigned:round_robin": 5, "decisions:unassigned:no_agent_online": 2},
    )
    real_redis.hset(
        partition_metrics(3),
        mapping={"decisions:assigned:round_robin": 2, "decisions:assigned:bulk_team": 4},
    )
    real_redis.hset(partition_metrics(PARTITIONS), "decisions:assigned:round_robin", 1000)  # not a partition in use
    text, samples = scrape(real_redis)
    assert value(samples, "helpdesk_rr_decisions_total", outcome="assigned", reason="round_robin") == 7
    assert value(samples, "helpdesk_rr_decisions_total", outcome="assigned", reason="bulk_team") == 4
    assert value(samples, "helpdesk_rr_decisions_total", outcome="unassigned", reason="no_agent_online") == 2
    assert 'helpdesk_rr_decisions_total{outcome="assigned",reason="round_robin"} 7.0' in text
    assert "# TYPE helpdesk_rr_decisions_total counter" in text


def test_latency_buckets_become_cumulative_seconds(real_redis: redis.Redis) -> None:
    real_redis.hset(
        partition_metrics(1),
        mapping={"latency_ms:5": 3, "latency_ms:50": 2, "latency_ms_sum": 120, "latency_ms_count": 6},
    )
    real_redis.hset(
        partition_metrics(2),
        mapping={"latency_ms:5": 1, "latency_ms:1000": 1, "latency_ms:inf": 1, "latency_ms_sum": 40000.5},
    )
    real_redis.hset(partition_metrics(2), "latency_ms_count", 3)
    text, samples = scrape(real_redis)
    expected = {
        "0.005": 4,
        "0.01": 4,
        "0.025": 4,
        "0.05": 6,
        "0.1": 6,
        "0.25": 6,
        "0.5": 6,
        "1.0": 7,
        "2.5": 7,
        "5.0": 7,
        "10.0": 7,
        "30.0": 7,
        "+Inf": 9,
    }
    for le, count in expected.items():
        assert value(samples, "helpdesk_rr_decision_latency_seconds_bucket", le=le) == count, le
    assert value(samples, "helpdesk_rr_decision_latency_seconds_count") == 9
    assert value(samples, "helpdesk_rr_decision_latency_seconds_sum") == pytest.approx(40.1205)
    assert "# TYPE helpdesk_rr_decision_latency_seconds histogram" in text
    assert 'helpdesk_rr_decision_latency_seconds_bucket{le="0.05"} 6.0' in text


def test_inf_bucket_never_drops_below_the_finite_buckets(real_redis: redis.Redis) -> None:
    real_redis.hset(partition_metrics(0), mapping={"latency_ms:10": 4, "latency_ms_count": 3})  # count lagging
    _text, samples = scrape(real_redis)
    assert value(samples, "helpdesk_rr_decision_latency_seconds_bucket", le="+Inf") == 4


def test_per_account_gauges_and_office_open(real_redis: redis.Redis) -> None:
    berlin = OfficeHours.from_specs("Europe/Berlin", ["mon-fri 09:00-17:00"], [])
    weekend = OfficeHours.from_specs("Europe/Berlin", ["sat 09:00-12:00"], [])
    open_now = put_account(real_redis, "acme", online=2, unassigned=3)
    put_office_hours(real_redis, open_now, berlin)
    closed_now = put_account(real_redis, "globex", online=0, unassigned=1)
    put_office_hours(real_redis, closed_now, weekend)
    cleared = put_account(real_redis, "initech", online=1)
    put_office_hours(real_redis, cleared, berlin, active=False)  # cleared office hours stay stored, inactive
    put_account(real_redis, "umbrella")  # no office hours at all
    _text, samples = scrape(real_redis)

    assert value(samples, "helpdesk_rr_online_agents", account="acme") == 2
    assert value(samples, "helpdesk_rr_unassigned_tickets", account="acme") == 3
    assert value(samples, "helpdesk_rr_online_agents", account="globex") == 0
    assert value(samples, "helpdesk_rr_unassigned_tickets", account="globex") == 1
    assert value(samples, "helpdesk_rr_online_agents", account="umbrella") == 0
    assert value(samples, "helpdesk_rr_office_open", account="acme") == 1
    assert value(samples, "helpdesk_rr_office_open", account="globex") == 0
    assert value(samples, "helpdesk_rr_office_open", account="initech") is None
    assert value(samples, "helpdesk_rr_office_open", account="umbrella") is None


def test_office_hours_are_read_as_the_engine_reads_them(real_redis: redis.Redis) -> None:
    """The fixture above writes settings the way the engine stores them (a guard on that assumption)."""
    hours = OfficeHours.from_specs("America/New_York", ["mon-fri 08:00-18:00"], ["2026-12-25"])
    keys = AccountKeys.for_account("acme")
    put_office_hours(real_redis, keys, hours)
    assert Engine(real_redis).load_office_hours("acme")[1] == hours
    real_redis.sadd(partition_accounts(keys.partition), "acme")
    _text, samples = scrape(real_redis, partitions=None)
    assert value(samples, "helpdesk_rr_office_open", account="acme") == 1  # 10:00 in New York


def test_queue_depth_started_and_failed(real_redis: redis.Redis) -> None:
    now = datetime.now(UTC).isoformat()
    jobs = [
        enqueue(
            build_ticket({"account_id": "acme", "ticket_id": f"t{i}", "channel": "email", "created_at": now}),
            real_redis,
        )
        for i in range(3)
    ]
    failed_registry(real_redis).add(jobs[0], ttl=600, exc_string="Traceback\nValueError: boom")
    real_redis.zadd(failed_registry(real_redis).key, {"long-gone": time.time() - 60})  # expired: RQ drops it
    collector = HelpdeskCollector(real_redis, partitions=PARTITIONS)
    real_redis.zadd(collector.started_key, {f"{jobs[1].id}:exec1": time.time() + 60})
    _text, samples = scrape(real_redis)
    assert value(samples, "helpdesk_rr_queue_depth") == 3
    assert value(samples, "helpdesk_rr_jobs_started") == 1
    assert value(samples, "helpdesk_rr_jobs_failed") == 1
    assert value(samples, "helpdesk_rr_malformed_queue_entries") == 0


def test_tickets_waiting_in_the_burst_intakes_lanes_are_counted(real_redis: redis.Redis) -> None:
    now = datetime.now(UTC).isoformat()
    tickets = [
        build_ticket({"account_id": account, "ticket_id": f"t{i}", "channel": "email", "created_at": now})
        for i, account in enumerate(["acme", "globex", "initech", "acme"])
    ]
    push_many(tickets, real_redis)
    _text, samples = scrape(real_redis)
    assert value(samples, "helpdesk_rr_intake_pending") == 4
    assert value(samples, "helpdesk_rr_queue_depth") == len({lane_of(t.account_id) for t in tickets})  # drains


def test_entries_moved_aside_are_counted(real_redis: redis.Redis) -> None:
    record(real_redis, QUEUE_NAME, b'bad"id{x}', "not a job id", datetime.now(UTC))
    record(real_redis, QUEUE_NAME, b"gone", "no job hash", datetime.now(UTC))
    _text, samples = scrape(real_redis)
    assert value(samples, "helpdesk_rr_malformed_queue_entries") == 2


def test_unreadable_values_do_not_break_the_scrape(real_redis: redis.Redis) -> None:
    real_redis.hset(
        partition_metrics(0),
        mapping={
            "decisions:assigned:round_robin": "not-a-number",
            "decisions:broken": 3,
            "latency_ms:abc": 5,
            "latency_ms:5": 1,
            "latency_ms_count": 1,
        },
    )
    keys = put_account(real_redis, "acme", online=1)
    real_redis.hset(keys.settings, mapping={"office_hours": "{not json", "oh_active": "1"})
    _text, samples = scrape(real_redis)
    assert value(samples, "helpdesk_rr_redis_up") == 1
    assert value(samples, "helpdesk_rr_decisions_total", outcome="assigned", reason="round_robin") == 0
    assert value(samples, "helpdesk_rr_decision_latency_seconds_bucket", le="+Inf") == 1
    assert value(samples, "helpdesk_rr_online_agents", account="acme") == 1
    assert value(samples, "helpdesk_rr_office_open", account="acme") is None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_redis_down_reports_only_redis_up_zero() -> None:
    client = metrics_client(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    registry = build_registry(client, partitions=PARTITIONS)  # registering must not need Redis either
    started = time.monotonic()
    text = generate_latest(registry).decode()
    assert time.monotonic() - started < 3  # fails fast: well inside a scrape timeout
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    assert [(s.name, s.value) for s in samples] == [("helpdesk_rr_redis_up", 0)]


def fetch(url: str, process: subprocess.Popen[Any], attempts: int = 100) -> str:
    for _ in range(attempts):
        if process.poll() is not None:
            raise AssertionError(f"metrics exited early ({process.returncode}): {process.communicate()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body: bytes = response.read()
                return body.decode()
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_cli_serves_the_series_over_http(real_redis: redis.Redis, redis_url: str) -> None:
    put_account(real_redis, "acme", online=1)  # in partition of 4: the process is given 4 via the env
    real_redis.hset(partition_metrics(0), mapping={"decisions:assigned:round_robin": 1, "latency_ms:5": 1})
    real_redis.hset(partition_metrics(0), mapping={"latency_ms_sum": 3, "latency_ms_count": 1})
    hours = OfficeHours.from_specs("UTC", ["mon-sun 00:00-24:00"], [])
    put_office_hours(real_redis, AccountKeys.for_account("acme", PARTITIONS), hours)
    port = free_port()
    env = {**os.environ, "HELPDESK_RR_PARTITIONS": str(PARTITIONS)}
    process = subprocess.Popen(
        [*COMMAND, "--redis-url", redis_url, "metrics", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        body = fetch(f"http://127.0.0.1:{port}/metrics", process)
    finally:
        process.terminate()
        try:
            stdout, _stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, _stderr = process.communicate()
    for name in SERIES:
        assert re.search(rf"^{name}[{{ ]", body, re.MULTILINE), name
    assert 'helpdesk_rr_online_agents{account="acme"} 1.0' in body
    assert 'helpdesk_rr_office_open{account="acme"} 1.0' in body
    assert "process_cpu_seconds_total" not in body  # a registry with only our collector
    assert f"http://127.0.0.1:{port}/metrics" in stdout


def test_cli_refuses_a_port_in_use(redis_url: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*COMMAND, "--redis-url", redis_url, "metrics", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot listen on 127.0.0.1:") and "Traceback" not in result.stderr


# --- docs/OPERATIONS.md: the scrape config and rule file must be valid YAML in the shape Prometheus reads ---


def yaml_blocks() -> list[str]:
    text = (ROOT / "docs" / "OPERATIONS.md").read_text()
    return re.findall(r"^```yaml\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


_KEY = re.compile(r"[A-Za-z_][\w.-]*:( |$)")


def _scalar(raw: str) -> Any:
    raw = raw.strip()
    if raw.startswith("'"):
        assert raw.endswith("'") and len(raw) > 1, raw
        inner = raw[1:-1]
        assert "'" not in inner.replace("''", ""), raw
        return inner.replace("''", "'")
    if raw.startswith('"'):
        assert raw.endswith('"') and len(raw) > 1 and '"' not in raw[1:-1] and "\\" not in raw, raw
        return raw[1:-1]
    assert raw and raw[0] not in "{[&*!|>%@`#" and ": " not in raw and " #" not in raw, raw
    return raw


def mini_yaml(text: str) -> Any:
    """The block-style subset of YAML the docs use (mappings, sequences, one-line scalars): enough to
    check structure without PyYAML; when PyYAML is installed the result is compared with it."""
    lines = [(len(line) - len(line.lstrip(" ")), line.strip()) for line in text.splitlines() if line.strip()]
    assert all("\t" not in line for _, line in lines)
    position = 0

    def block(indent: int) -> Any:
        nonlocal position
        if lines[position][1].startswith("- "):
            items = []
            while position < len(lines) and lines[position][0] == indent and lines[position][1].startswith("- "):
                own_indent, line = lines[position]
                lines[position] = (own_indent + 2, line[2:])  # the item's content, as a nested block
                items.append(block(own_indent + 2) if _KEY.match(line[2:]) else _pop_scalar())
            return items
        mapping: dict[str, Any] = {}
        while position < len(lines) and lines[position][0] == indent and not lines[position][1].startswith("- "):
            key, _, rest = lines[position][1].partition(":")
            assert key and key not in mapping and (rest == "" or rest.startswith(" ")), lines[position]
            position += 1
            if rest.strip():
                mapping[key] = _scalar(rest)
            else:
                assert position < len(lines) and lines[position][0] >= indent, key
                child_indent = lines[position][0]
                assert child_indent > indent or lines[position][1].startswith("- "), key
                mapping[key] = block(child_indent)
        return mapping

    def _pop_scalar() -> Any:
        nonlocal position
        position += 1
        return _scalar(lines[position - 1][1])

    result = block(lines[0][0])
    assert position == len(lines), f"unparsed from line {lines[position]}"
    return result


def test_operations_yaml_blocks_parse() -> None:
    blocks = yaml_blocks()
    assert len(blocks) == 2
    parsed = [mini_yaml(block) for block in blocks]
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        pass
    else:
        assert parsed == [yaml.safe_load(block) for block in blocks]
    scrape_config, rules = parsed
    assert scrape_config["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9640"]
    assert rules["groups"][0]["name"] == "helpdesk-rr"


def test_alert_rules_are_complete_and_use_exported_series(real_redis: redis.Redis) -> None:
    rules = mini_yaml(yaml_blocks()[1])["groups"][0]["rules"]
    real_redis.hset(partition_metrics(0), "decisions:assigned:round_robin", 1)
    monday = OfficeHours.from_specs("UTC", ["mon 09:00-10:00"], [])
    put_office_hours(real_redis, put_account(real_redis, "acme"), monday)
    real_redis.xgroup_create("{rr:p00}:events", "toasts", id="0", mkstream=True)  # partition 0
    _text, samples = scrape(real_redis)
    exported = names(samples)
    alerts = {rule["alert"] for rule in rules}
    assert {
        "HelpdeskRRQueueBackingUp",
        "HelpdeskRRQueueGrowing",
        "HelpdeskRRJobsFailing",
        "HelpdeskRRDecisionLatencyHigh",
        "HelpdeskRRUnassignedSpike",
        "HelpdeskRRNoAgentOnline",
        "HelpdeskRRRedisDown",
    } <= alerts
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
        for name in re.findall(r"helpdesk_rr_[a-z_]+", rule["expr"]):
            assert name in exported, f"{rule['alert']} uses {name}, which the endpoint does not export"


def test_figures_written_by_the_engine_reach_the_endpoint(real_redis: redis.Redis, make_ticket: TicketFactory) -> None:
    """End to end with the real writers (the Lua scripts), on the default partition count."""
    engine = Engine(real_redis)
    setup_account(engine, "acme", online=("ana", "ben"))
    setup_account(engine, "globex", round_robin=False)
    berlin = OfficeHours.from_specs("Europe/Berlin", ["mon-fri 09:00-17:00"], [])
    engine.set_office_hours("acme", berlin, "max", NOW)
    engine.decide(make_ticket("acme"), NOW, enqueued_at=NOW - timedelta(milliseconds=40))
    engine.decide(make_ticket("acme"), NOW, enqueued_at=NOW - timedelta(milliseconds=3))
    engine.decide(make_ticket("globex"), NOW)  # no enqueue time: counted, but not in the latency histogram
    _text, samples = scrape(real_redis, partitions=None)
    assert value(samples, "helpdesk_rr_decisions_total", outcome="assigned", reason="round_robin") == 2
    assert value(samples, "helpdesk_rr_decisions_total", outcome="unassigned", reason="round_robin_off") == 1
    assert value(samples, "helpdesk_rr_decision_latency_seconds_bucket", le="0.005") == 1
    assert value(samples, "helpdesk_rr_decision_latency_seconds_bucket", le="0.05") == 2
    assert value(samples, "helpdesk_rr_decision_latency_seconds_count") == 2
    assert value(samples, "helpdesk_rr_decision_latency_seconds_sum") == pytest.approx(0.043)
    assert value(samples, "helpdesk_rr_online_agents", account="acme") == 2
    assert value(samples, "helpdesk_rr_online_agents", account="globex") == 0
    assert value(samples, "helpdesk_rr_unassigned_tickets", account="globex") == 1
    assert value(samples, "helpdesk_rr_office_open", account="acme") == 1
    assert value(samples, "helpdesk_rr_office_open", account="globex") is None


def test_consumer_groups_report_unacknowledged_events_and_lag(real_redis: redis.Redis) -> None:
    from worker.core.keys import partition_stream

    for partition in (0, 1):
        stream = partition_stream(partition)
        for n in range(3):
            real_redis.xadd(stream, {"n": n})
        real_redis.xgroup_create(stream, "toasts", id="0")
        real_redis.xreadgroup("toasts", "c1", {stream: ">"}, count=2)  # 2 delivered, not acked; 1 waiting
    _, samples = scrape(real_redis)
    assert value(samples, "helpdesk_rr_consumer_group_pending", group="toasts") == 4
    lag = value(samples, "helpdesk_rr_consumer_group_lag", group="toasts")
    assert lag in (2, None)  # Redis >= 7 reports lag; 6.2 does not
