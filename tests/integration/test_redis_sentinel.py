"""The gateway's rate limit through Redis Sentinel (seed 002, requirement 17), on real processes: a
redis-server master, a replica, a redis-sentinel, and `gatewayctl serve` compiled from specs that
name the sentinel. The limit holds through Sentinel, and after a failover (asked of the sentinel,
or forced by killing the master) the gateway finds the new master and the limit keeps working
with the counts it had."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from gateway_stack import (
    CLIENT_KEYS,
    FakeProviderProcess,
    Gateway,
    RedisSentinel,
    RedisServer,
    compile_project,
    gateway_environ,
    launch_gateway,
)
from ruamel.yaml import YAML

pytestmark = pytest.mark.integration

REQUESTS_PER_MINUTE = 2  # one slot every 30 s: a third request within a test is refused


class Topology:
    def __init__(self, tmp_path: Path) -> None:
        self.master = RedisServer(tmp_path / "master.log").start()
        self.replica = RedisServer(
            tmp_path / "replica.log", extra_args=("--replicaof", "127.0.0.1", str(self.master.port))
        ).start()
        self.sentinel = RedisSentinel(tmp_path / "sentinel.conf", self.master.port).start()
        self.ask = redis.Redis(port=self.sentinel.port, decode_responses=True)
        wait_for(lambda: self.client(self.replica).info("replication")["master_link_status"] == "up",
                 "the replica never synced")
        wait_for(lambda: len(self.ask.sentinel_slaves(self.sentinel.master_name)) == 1,
                 "the sentinel never saw the replica")

    def client(self, server: RedisServer) -> redis.Redis:
        return redis.Redis(port=server.port, decode_responses=True, socket_timeout=2)

    def master_port(self) -> int:
        _host, port = self.ask.sentinel_get_master_addr_by_name(self.sentinel.master_name)
        return int(port)

    def stop(self) -> None:
        for process in (self.sentinel, self.replica, self.master):
            process.stop()


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except (redis.RedisError, KeyError):
            pass  # not up yet
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    t = Topology(tmp_path)
    yield t
    t.stop()


@pytest.fixture
def sentinel_gateway(
    topology: Topology, fake_provider: FakeProviderProcess, tmp_path: Path
) -> Iterator[Gateway]:
    def through_sentinel(specs: dict[str, Any]) -> None:
        specs["gateway"]["gateway"]["rate_limit"]["requests_per_minute"] = REQUESTS_PER_MINUTE
        specs["gateway"]["redis"] = {
            "sentinel": {"sentinels": [f"127.0.0.1:{topology.sentinel.port}"], "master_name": "gateway"}
        }

    generated = compile_project(tmp_path / "project", fake_provider.base_url, through_sentinel)
    # The variables exactly as the compiled compose file gives them to the gateway.
    compose = YAML(typ="safe").load((generated / "staging" / "docker-compose.yml").read_text())
    environment = compose["services"]["policy-gateway"]["environment"]
    assert "REDIS_URL" not in environment
    redis_env = {k: environment[k] for k in ("REDIS_SENTINELS", "REDIS_SENTINEL_MASTER")}
    assert redis_env == {"REDIS_SENTINELS": f"127.0.0.1:{topology.sentinel.port}", "REDIS_SENTINEL_MASTER": "gateway"}
    gateway = launch_gateway(
        generated, "staging", gateway_environ(fake_provider.base_url, None, **redis_env), tmp_path / "gateway.log"
    )
    yield gateway
    gateway.stop()


def statuses(gateway: Gateway, n: int, key: str = CLIENT_KEYS[0]) -> list[int]:
    return [gateway.chat(key=key).status_code for _ in range(n)]


def limit_keys(client: redis.Redis) -> list[str]:
    return sorted(str(k) for k in client.scan_iter("pgw:rl:*"))


@pytest.mark.parametrize("failover", ["sentinel_failover", "kill_master"])
def test_the_rate_limit_works_through_sentinel_and_after_a_failover(
    topology: Topology, sentinel_gateway: Gateway, failover: str
) -> None:
    assert statuses(sentinel_gateway, REQUESTS_PER_MINUTE + 1) == [200] * REQUESTS_PER_MINUTE + [429]
    old_master = topology.master.port
    assert limit_keys(topology.client(topology.master))  # the counts live on the master the sentinel named
    wait_for(lambda: bool(limit_keys(topology.client(topology.replica))), "the counts never reached the replica")

    if failover == "sentinel_failover":
        topology.ask.execute_command("SENTINEL", "FAILOVER", topology.sentinel.master_name)
    else:
        topology.master.stop()
    wait_for(lambda: topology.master_port() == topology.replica.port, "the sentinel never promoted the replica")
    assert topology.master_port() != old_master
    if failover == "sentinel_failover":
        # Until the sentinel turns the old master into a replica (its next look at it, within ~10 s),
        # connections the gateway already holds still write there: Sentinel's own window, as for
        # any client (docs/deploy.md, "Redis Sentinel").
        wait_for(lambda: topology.client(topology.master).info("replication")["role"] == "slave",
                 "the sentinel never demoted the old master", timeout_s=30)

    # The first request on a connection to the old master is refused (fail mode closed: 503) and
    # drops it; the next ones ask the sentinel for the new master, where the limit answers again.
    deadline = time.monotonic() + 15
    while (status := sentinel_gateway.chat().status_code) == 503:
        assert time.monotonic() < deadline, "the gateway never reached the new master"
        time.sleep(0.2)
    assert status == 429  # the first key's spent slots were kept across the failover
    assert statuses(sentinel_gateway, 2, key=CLIENT_KEYS[1]) == [200, 200]  # another key is admitted
    new_master = topology.client(topology.replica)
    assert new_master.info("replication")["role"] == "master"
    assert len(limit_keys(new_master)) == 2  # and its count is written to the new master
    metrics = httpx.get(sentinel_gateway.operations_url + "/metrics", timeout=5).text
    assert 'policy_gateway_rate_limited_total{limit="requests"}' in metrics
