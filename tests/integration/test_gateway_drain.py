"""SIGTERM drains the gateway (what the chart's preStop sleep and grace period rely on): it stops
accepting connections at once and finishes the requests in flight before it exits."""

from __future__ import annotations

import os
import pstats
import signal
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gateway_stack import FakeProviderProcess, Gateway

pytestmark = pytest.mark.integration

ANSWER_DELAY_S = 2.0


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_sigterm_refuses_new_connections_and_finishes_the_request_in_flight(
    start_gateway: Callable[..., Gateway], fake_provider: FakeProviderProcess
) -> None:
    gateway = start_gateway(upstream=fake_provider.base_url)
    fake_provider.control(delay_s=ANSWER_DELAY_S)  # every answer takes this long
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            in_flight = pool.submit(gateway.chat)
            deadline = time.monotonic() + 5
            while not fake_provider.requests():  # the request has reached the provider
                assert time.monotonic() < deadline, "the request never reached the provider"
                time.sleep(0.02)
            stopped_at = time.monotonic()
            os.kill(gateway.process.pid, signal.SIGTERM)
            deadline = stopped_at + 1
            while accepts(gateway.port):
                assert time.monotonic() < deadline, "still accepting connections 1 s after SIGTERM"
                time.sleep(0.02)
            r = in_flight.result(timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "Hello from the fake provider."
        assert gateway.process.wait(timeout=10) == 0
        assert time.monotonic() - stopped_at < ANSWER_DELAY_S + 5  # it exits once drained, not at a kill
    finally:
        fake_provider.reset()


def test_a_profiled_gateway_writes_the_event_loops_profile_when_it_stops(
    start_gateway: Callable[..., Gateway], fake_provider: FakeProviderProcess, tmp_path: Path
) -> None:
    profile = tmp_path / "gateway.prof"
    gateway = start_gateway(upstream=fake_provider.base_url, POLICY_GATEWAY_PROFILE=str(profile))
    assert gateway.chat().status_code == 200
    assert not profile.exists()  # written at shutdown, with everything served
    gateway.stop()
    assert gateway.process.returncode == 0
    functions = pstats.Stats(str(profile)).get_stats_profile().func_profiles
    handled = functions["check_prompt"]  # the prompt policy step: its name is unique
    assert handled.file_name.endswith("runtime/gateway/pipeline.py") and int(handled.ncalls.split("/")[0]) >= 1
