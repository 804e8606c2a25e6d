"""ScriptPipeline: several calls of one script in flight on one connection, on real Redis and fakeredis."""

from __future__ import annotations

import pytest
import redis
from redis.exceptions import ResponseError

from worker.core.script_pipeline import ScriptPipeline

COUNTER = """
if ARGV[1] == 'fail' then return redis.error_reply('RR_TEST asked to fail') end
return redis.call('INCR', KEYS[1])
"""


def test_replies_come_back_oldest_first_with_their_tags(client: redis.Redis) -> None:
    script = client.register_script(COUNTER)
    replies = []
    with ScriptPipeline[str](client, script, "n", depth=3) as calls:
        for name in "abcdef":
            if calls.in_flight == calls.depth:
                replies.append(calls.receive())
            calls.send(["n"], ["go"], tag=name)
        while calls.in_flight:
            replies.append(calls.receive())
    assert replies == [(name, n) for n, name in enumerate("abcdef", start=1)]
    assert client.get("n") == b"6"


def test_a_call_that_hit_noscript_is_sent_again_after_the_ones_that_ran(client: redis.Redis) -> None:
    script = client.register_script(COUNTER)
    client.script_flush()
    with ScriptPipeline[str](client, script, "n", depth=2) as calls:
        calls.send(["n"], ["go"], tag="first")  # NOSCRIPT: nobody loaded it yet
        script.registered_client.script_load(COUNTER)  # another client loads it meanwhile
        calls.send(["n"], ["go"], tag="second")  # runs
        assert calls.receive() == ("first", 2)  # re-sent, so it ran after "second"
        assert calls.receive() == ("second", 1)
    with ScriptPipeline[str](client, script, "n") as calls:  # a flush between two calls of one pipeline
        calls.send(["n"], ["go"], tag="third")
        assert calls.receive() == ("third", 3)
        client.script_flush()
        calls.send(["n"], ["go"], tag="fourth")
        assert calls.receive() == ("fourth", 4)


def test_an_error_ends_the_pipeline_and_leaves_the_pool_clean(client: redis.Redis) -> None:
    script = client.register_script(COUNTER)
    with pytest.raises(ResponseError, match="RR_TEST asked to fail"), ScriptPipeline[str](client, script, "n") as calls:
        calls.send(["n"], ["fail"], tag="bad")
        calls.send(["n"], ["go"], tag="good")  # its reply is never read
        calls.receive()
    assert client.get("n") == b"1"  # the second call still ran: each call is its own script run
    assert client.ping() is True  # no stray reply is read by the next command
    assert client.incr("n") == 2


def test_misuse_is_refused(client: redis.Redis) -> None:
    script = client.register_script(COUNTER)
    idle = ScriptPipeline[str](client, script, "n", depth=1)
    with pytest.raises(RuntimeError, match="outside"):
        idle.send(["n"], ["go"], tag="x")
    with idle as calls:
        with pytest.raises(RuntimeError, match="no call in flight"):
            calls.receive()
        calls.send(["n"], ["go"], tag="x")
        with pytest.raises(RuntimeError, match="already 1 calls in flight"):
            calls.send(["n"], ["go"], tag="y")
        assert calls.receive() == ("x", 1)
    with pytest.raises(ValueError, match="depth"):
        ScriptPipeline[str](client, script, "n", depth=0)


def test_the_idle_health_check_never_reads_a_pending_reply(client: redis.Redis) -> None:
    script = client.register_script(COUNTER)
    with ScriptPipeline[str](client, script, "n", depth=2) as calls:
        connection = calls._connection
        connection.health_check_interval = 1
        calls.send(["n"], ["go"], tag="a")
        connection.next_health_check = 0  # "idle for long": the next send would PING first
        calls.send(["n"], ["go"], tag="b")  # ...but a reply is pending, so it must not
        assert [calls.receive(), calls.receive()] == [("a", 1), ("b", 2)]
