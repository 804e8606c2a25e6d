"""Configuration from the environment: the only module that reads it, once, at the entry points.

An entry point (the CLI, a worker process, a platform's backend building ``Helpdesk.from_env()``)
calls ``Settings.from_env()`` once and passes the result down; nothing below reads ``os.environ``.
A bad value fails there, with one line naming the variable, instead of in the middle of a job.

| variable | meaning | default |
|---|---|---|
| ``REDIS_URL`` | the single Redis for everything | the embedded server |
| ``REDIS_STATE_URL`` / ``REDIS_QUEUE_URLS`` | state on its own Redis (or Cluster) + queue shards | unset |
| ``HELPDESK_RR_PARTITIONS`` | partitions (event streams, hash tags); fixed for a deployment | 16 |
| ``HELPDESK_RR_REDIS_RETRIES`` | retries of a transient Redis error per call | 6 |
| ``HELPDESK_RR_STATE_DIR`` / ``XDG_STATE_HOME`` | the embedded server's files | ``~/.local/state/helpdesk-rr`` |
| ``HELPDESK_RR_ACCOUNT_STREAM_MAXLEN`` … | retention (``Retention`` below) | see docs/DESIGN.md |
| ``HELPDESK_RR_MAX_WAITING_TICKETS`` | per-account ceiling on waiting (unassigned) tickets | 100,000 |
| ``HELPDESK_RR_PUBLIC_URL`` | the HTTP edge's base URL as callers reach it (agent links, Twilio) | 127.0.0.1:8000 |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from producers.connection import RETRIES
from worker.core.keys import DEFAULT_PARTITIONS
from worker.redaction import safe_repr


def _int_env(environ: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if maximum is not None and not minimum <= value <= maximum:
        raise ValueError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


@dataclass(frozen=True)
class Retention:
    """How much history Redis keeps (see docs/DESIGN.md, "Retention").

    Account streams are trimmed approximately (``MAXLEN ~``) at append time: nobody consumes them
    with a group. Partition streams feed consumer groups, so they are trimmed by the workers'
    maintenance (``trim_events``) only past what every group has read and acknowledged, and only
    once older than ``partition_stream_min_age_seconds``; ``partition_stream_maxlen`` (0 = none) is
    an emergency cap that *can* drop unread events, so it is off by default.

    ``max_waiting_tickets`` bounds one account's unassigned set (records of waiting tickets are kept
    until assigned): a ticket that would have to wait beyond it is refused into RQ's failed registry
    with its reason, never dropped silently (docs/DESIGN.md, "Retention").
    """

    account_stream_maxlen: int = 100_000
    partition_stream_maxlen: int = 0
    partition_stream_min_age_seconds: int = 24 * 3600
    assigned_record_ttl_seconds: int = 30 * 24 * 3600
    stats_retention_days: int = 400
    max_waiting_tickets: int = 100_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Retention:
        env = os.environ if environ is None else environ
        return cls(
            account_stream_maxlen=_int_env(env, "HELPDESK_RR_ACCOUNT_STREAM_MAXLEN", cls.account_stream_maxlen),
            partition_stream_maxlen=_int_env(env, "HELPDESK_RR_PARTITION_STREAM_MAXLEN", cls.partition_stream_maxlen),
            partition_stream_min_age_seconds=_int_env(
                env, "HELPDESK_RR_PARTITION_STREAM_MIN_AGE_SECONDS", cls.partition_stream_min_age_seconds
            ),
            assigned_record_ttl_seconds=_int_env(
                env, "HELPDESK_RR_RECORD_TTL_SECONDS", cls.assigned_record_ttl_seconds
            ),
            stats_retention_days=_int_env(env, "HELPDESK_RR_STATS_RETENTION_DAYS", cls.stats_retention_days),
            max_waiting_tickets=_int_env(
                env, "HELPDESK_RR_MAX_WAITING_TICKETS", cls.max_waiting_tickets, minimum=1, maximum=10**9
            ),
        )


def _retries(environ: Mapping[str, str]) -> int:
    text = environ.get("HELPDESK_RR_REDIS_RETRIES", "").strip()
    if not text:
        return RETRIES
    if not text.isdigit():
        raise ValueError(f"HELPDESK_RR_REDIS_RETRIES must be a whole number ≥ 0, not {text!r}")
    return int(text)


def _state_dir(environ: Mapping[str, str]) -> Path:
    explicit = environ.get("HELPDESK_RR_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = environ.get("XDG_STATE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "helpdesk-rr"
    return Path.home() / ".local" / "state" / "helpdesk-rr"


DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def _public_url(environ: Mapping[str, str]) -> str:
    raw = environ.get("HELPDESK_RR_PUBLIC_URL", "").strip().rstrip("/")
    if not raw:
        return DEFAULT_PUBLIC_URL
    if not raw.startswith(("http://", "https://")) or any(c.isspace() for c in raw) or "?" in raw or "#" in raw:
        raise ValueError(f"HELPDESK_RR_PUBLIC_URL must be an http:// or https:// base URL, got {raw!r}")
    return raw


def child_environment(*, redis_url: str) -> dict[str, str]:
    """The environment for a child helpdesk-rr process: ours, with ``REDIS_URL`` set to ``redis_url``.

    URLs go to children this way, never as arguments: a URL may hold a password, and every local user
    can read a process's command line (``ps``), while its environment is its owner's (docs/SECURITY.md)."""
    return {**os.environ, "REDIS_URL": redis_url}


@dataclass(frozen=True)
class Settings:
    """Everything helpdesk-rr takes from its environment, read in one place."""

    redis_url: str | None = None
    """``REDIS_URL`` (or ``--redis-url``): one Redis for state and queues; None = the embedded server."""
    state_url: str | None = None
    queue_urls: tuple[str, ...] = ()
    partitions: int = DEFAULT_PARTITIONS
    redis_retries: int = RETRIES
    state_dir: Path = field(default_factory=lambda: _state_dir({}))
    retention: Retention = field(default_factory=Retention)
    public_url: str = DEFAULT_PUBLIC_URL
    """``HELPDESK_RR_PUBLIC_URL``: where callers reach ``helpdesk-rr serve`` (behind a proxy, the proxy's
    URL): agent links point there, and Twilio signs the URL it called, which a proxy may have rewritten."""

    def __repr__(self) -> str:  # the URLs may hold a password (worker/redaction.py)
        return safe_repr(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, redis_url: str | None = None) -> Settings:
        """Read every variable once; ``redis_url`` (the CLI's ``--redis-url``) wins over ``REDIS_URL``."""
        env = os.environ if environ is None else environ
        queues = tuple(u.strip() for u in env.get("REDIS_QUEUE_URLS", "").split(",") if u.strip())
        return cls(
            redis_url=redis_url or env.get("REDIS_URL", "").strip() or None,
            state_url=env.get("REDIS_STATE_URL", "").strip() or None,
            queue_urls=queues,
            partitions=_int_env(env, "HELPDESK_RR_PARTITIONS", DEFAULT_PARTITIONS, minimum=1, maximum=1024),
            redis_retries=_retries(env),
            state_dir=_state_dir(env),
            retention=Retention.from_env(env),
            public_url=_public_url(env),
        )
