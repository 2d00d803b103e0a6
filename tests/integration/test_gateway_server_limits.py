"""The gateway's server limits and edges with real processes (`gatewayctl serve` in front of a real
LiteLLM proxy and Redis): slow and idle clients cut off after the timeouts while valid requests
keep working, oversized headers (431), the connection cap (503), the strict credential parser as
the HTTP parser hands it the bytes, failed-authentication throttling per address, the operations
endpoints only on their own port, and the Redis connection pool cap. Timeouts are shortened
through the documented environment variables, so each test takes a few seconds.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from gateway_stack import (
    BIN,
    CLIENT_KEYS,
    Gateway,
    LiteLLMProxy,
    RedisServer,
    clean_environ,
    free_port,
    gateway_environ,
    launch_gateway,
    stop_process,
)

pytestmark = pytest.mark.integration

KEY = CLIENT_KEYS[3]
SLOW = {
    "POLICY_GATEWAY_HEADER_TIMEOUT_S": "0.5",
    "POLICY_GATEWAY_BODY_TIMEOUT_S": "0.5",
    "POLICY_GATEWAY_KEEP_ALIVE_TIMEOUT_S": "0.5",
}
CHAT = {"model": "chat-default", "messages": [{"role": "user", "content": "What is the capital of France?"}]}


def request(
    path: str = "/health/liveliness", *headers: str, method: str = "GET", body: bytes = b"", keep_alive: bool = False
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: gateway", *headers]
    if not keep_alive:
        lines.append("Connection: close")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def exchange(port: int, data: bytes, *, source: str = "127.0.0.1", limit_s: float = 10) -> tuple[float, bytes]:
    """Send `data` on a new connection and read until the server closes it: (seconds, bytes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    started = time.monotonic()
    try:
        if data:
            writer.write(data)
            await writer.drain()
        received = await asyncio.wait_for(reader.read(), limit_s)
    except ConnectionResetError:
        received = b"<reset>"
    finally:
        writer.close()
    return time.monotonic() - started, received


def read_response(sock: socket.socket) -> bytes:
    """One whole answer (it has a content-length) from a connection that stays open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    length = int(lengths[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0


def json_body(response: bytes) -> dict[str, object]:
    body: dict[str, object] = json.loads(response.split(b"\r\n\r\n", 1)[1])
    return body


def refused(gateway: Gateway, reason: str) -> float:
    for line in gateway.ops("/metrics").text.splitlines():
        if line.startswith(f'policy_gateway_connections_refused_total{{listener="gateway",reason="{reason}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- slow clients ------------------------------------------------------------------------------------


def test_idle_and_half_sent_connections_are_closed_while_valid_requests_keep_working(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(**SLOW)
    partial_head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bear"
    partial_body = request(
        "/v1/chat/completions", f"Authorization: Bearer {KEY}", "Content-Type: application/json", method="POST",
        body=json.dumps(CHAT).encode(),
    )[:-10]  # the headers and all but the last 10 bytes of the body

    async def scenario() -> tuple[list[tuple[float, bytes]], list[int]]:
        slow = [exchange(gateway.port, data) for data in [b""] * 20 + [partial_head] * 20 + [partial_body] * 20]
        tasks = [asyncio.create_task(s) for s in slow]
        await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
            valid = await asyncio.gather(
                *(client.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {KEY}"})
                  for _ in range(5))
            )
        return await asyncio.gather(*tasks), [r.status_code for r in valid]

    results, valid = asyncio.run(scenario())
    assert valid == [200] * 5  # served while 60 slow connections were open
    idle, head, body = results[:20], results[20:40], results[40:]
    for seconds, data in idle:
        assert data == b"" and 0.4 < seconds < 2.0, (seconds, data)  # nothing came: closed, no answer
    for seconds, data in head + body:
        assert status_of(data) == 408 and 0.4 < seconds < 2.0, (seconds, data[:80])
        assert json_body(data)["error"]["code"] == "request_timeout"  # type: ignore[index]
    assert b"headers did not arrive within 0.5 s" in head[0][1]
    assert b"body did not arrive within 0.5 s" in body[0][1]
    assert refused(gateway, "header_timeout") == 40
    assert refused(gateway, "body_timeout") == 20


def test_an_idle_keep_alive_connection_is_closed_after_its_timeout(start_gateway: Callable[..., Gateway]) -> None:
    gateway = start_gateway(**SLOW)
    seconds, data = asyncio.run(exchange(gateway.port, request(keep_alive=True)))
    assert status_of(data) == 200 and data.endswith(b'{"status":"alive"}')
    assert 0.4 < seconds < 2.0
    # noise after the answer (it stops the keep-alive timer) does not keep the connection open
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.settimeout(5)
        sock.sendall(request(keep_alive=True))
        assert status_of(read_response(sock)) == 200
        time.sleep(0.3)
        sock.sendall(b"\r\n")
        started = time.monotonic()
        assert sock.recv(4096) == b""
        assert 0.4 < time.monotonic() - started < 2.0


# --- headers -----------------------------------------------------------------------------------------


def test_headers_over_the_limit_get_431_and_a_1_mb_header_is_cut_short(start_gateway: Callable[..., Gateway]) -> None:
    gateway = start_gateway(POLICY_GATEWAY_MAX_HEADER_BYTES="8192")
    _, data = asyncio.run(exchange(gateway.port, request("/health/liveliness", "X-Pad: " + "a" * 7000)))
    assert status_of(data) == 200
    _, data = asyncio.run(exchange(gateway.port, request("/health/liveliness", "X-Pad: " + "a" * 9000)))
    assert status_of(data) == 431
    assert json_body(data)["error"]["code"] == "request_header_fields_too_large"  # type: ignore[index]
    assert b"exceed 8192 bytes" in data
    many = [f"X-{i}: {'b' * 90}" for i in range(100)]
    _, data = asyncio.run(exchange(gateway.port, request("/health/liveliness", *many)))
    assert status_of(data) == 431  # many small headers count too

    # 1 MB of one header, never finished: answered and closed after the first reads, not buffered
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.settimeout(5)
        sent = 0
        try:
            sock.sendall(b"GET /health/liveliness HTTP/1.1\r\nHost: gateway\r\nX-Big: ")
            while sent < 1 << 20:
                sock.sendall(b"c" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = sock.recv(4096)
        except ConnectionResetError:
            answer = b""
    assert sent < 1 << 20 or status_of(answer) == 431, (sent, answer[:60])
    assert time.monotonic() - started < 3
    assert refused(gateway, "header_too_large") == 3
    assert httpx.get(gateway.url + "/health/liveliness").status_code == 200


# --- the connection cap ------------------------------------------------------------------------------


def test_connections_over_the_cap_get_503_until_one_closes(start_gateway: Callable[..., Gateway]) -> None:
    gateway = start_gateway(POLICY_GATEWAY_MAX_CONNECTIONS="5")
    held = []
    for _ in range(5):  # five keep-alive connections, each served once and left open
        sock = socket.create_connection(("127.0.0.1", gateway.port))
        held.append(sock)
        sock.settimeout(5)
        sock.sendall(request(keep_alive=True))
        assert status_of(read_response(sock)) == 200
    seconds, data = asyncio.run(exchange(gateway.port, request("/v1/models", f"Authorization: Bearer {KEY}")))
    assert status_of(data) == 503 and seconds < 1
    assert b"retry-after: 1\r\n" in data and b"connection: close\r\n" in data
    assert json_body(data)["error"]["code"] == "too_many_connections"  # type: ignore[index]
    assert gateway.ops("/health/readiness").status_code == 200  # the operations port has its own cap
    held.pop().close()
    deadline = time.monotonic() + 3
    while status_of(asyncio.run(exchange(gateway.port, request()))[1]) != 200:
        assert time.monotonic() < deadline, "a freed slot was not served"
        time.sleep(0.05)
    for sock in held:
        sock.close()
    assert refused(gateway, "too_many_connections") >= 1


# --- credentials --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([f"Authorization: Bearer {KEY}"], 200),
        ([f"authorization: bearer {KEY}"], 200),  # names and the scheme are case-insensitive
        ([f"AUTHORIZATION: BEARER {KEY}"], 200),
        ([f"Authorization:   Bearer {KEY}"], 200),  # whitespace after the colon is HTTP's, not the value's
        ([f"api-key: {KEY}"], 200),
        ([f"Authorization: Bearer {KEY}", f"api-key: {KEY}"], 200),
        ([], 401),
        ([f"Authorization: Bearer  {KEY}"], 401),
        ([f"Authorization: Bearer {KEY} "], 401),
        ([f"Authorization: Bearer {KEY}\t"], 401),
        ([f"Authorization: Bearer\t{KEY}"], 401),
        (["Authorization: Bearer"], 401),
        (["Authorization: Bearer "], 401),
        ([f"Authorization: Basic {KEY}"], 401),
        ([f"Authorization: {KEY}"], 401),
        ([f"Authorization: Bearer {KEY}", f"Authorization: Bearer {KEY}"], 401),  # two: one ", "-joined value
        ([f"Authorization: Bearer {KEY},"], 401),
        ([f"Authorization: Bearer {KEY}", f"api-key: {CLIENT_KEYS[4]}"], 401),
        ([f"api-key: {KEY} "], 401),
        ([f"api-key: Bearer {KEY}"], 401),
        (["Authorization: Bearer sk-client-99"], 401),
    ],
)
def test_credentials_are_read_strictly_through_the_real_parser(
    credentials_gateway: Gateway, headers: list[str], status: int
) -> None:
    _, data = asyncio.run(exchange(credentials_gateway.port, request("/v1/models", *headers)))
    assert status_of(data) == status, data[:300]
    if status == 401:
        error = json_body(data)["error"]
        assert error["type"] == "authentication_error"  # type: ignore[index]
        assert "Authorization: Bearer <key>" in error["message"] or "invalid API key" in error["message"]  # type: ignore[index]
        assert KEY not in error["message"]  # type: ignore[index]


@pytest.fixture(scope="module")
def credentials_gateway(
    compiled_project: Path,
    litellm_proxy: LiteLLMProxy,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    """A gateway that does not throttle failed authentications (the table has many from one address)."""
    environ = gateway_environ(litellm_proxy.url, redis_server.url, POLICY_GATEWAY_AUTH_FAILURES_PER_MINUTE="1000")
    gateway = launch_gateway(compiled_project, "staging", environ, tmp_path_factory.mktemp("creds") / "gateway.log")
    yield gateway
    stop_process(gateway.process)


def test_failed_authentications_are_throttled_per_address_and_the_key_is_never_logged(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(POLICY_GATEWAY_AUTH_FAILURES_PER_MINUTE="5")
    wrong = "sk-guess-0123456789abcdef"

    def chat(key: str, source: str = "127.0.0.1") -> httpx.Response:
        transport = httpx.HTTPTransport(local_address=source)
        with httpx.Client(transport=transport, base_url=gateway.url, timeout=10) as client:
            return client.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}"})

    assert [chat(wrong).status_code for _ in range(5)] == [401] * 5
    r = chat(wrong)
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_auth_failures"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert chat(KEY).status_code == 429  # the address is refused whatever it presents
    assert chat(KEY, source="127.0.0.2").status_code == 200  # another address is not affected

    async def burst() -> list[int]:  # the finding: thousands of guesses in half a second
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.3")
        async with httpx.AsyncClient(transport=transport, base_url=gateway.url, timeout=10) as client:
            answers = await asyncio.gather(
                *(client.get("/v1/models", headers={"authorization": f"Bearer {wrong}{i}"}) for i in range(300))
            )
        return [a.status_code for a in answers]

    statuses = asyncio.run(burst())
    assert statuses.count(401) == 5 and statuses.count(429) == 295
    metrics = gateway.ops("/metrics").text
    assert 'policy_gateway_auth_failures_total{code="invalid_api_key"} 10.0' in metrics
    assert 'policy_gateway_auth_failures_total{code="too_many_auth_failures"} 297.0' in metrics
    log = gateway.log.read_text()
    assert "authentication failures throttled" in log
    assert wrong not in log and KEY not in log


# --- operations endpoints ------------------------------------------------------------------------------


def test_operations_endpoints_are_only_on_the_operations_port(credentials_gateway: Gateway) -> None:
    gateway = credentials_gateway
    for path in ("/metrics", "/health", "/v1/gateway/status", "/hot-reload/status"):
        for headers in ({}, {"authorization": f"Bearer {KEY}"}):
            r = httpx.get(gateway.url + path, headers=headers, timeout=10)
            assert r.status_code == 404, (path, r.text)
            assert "bundle" not in r.text and "fail_mode" not in r.text
        assert gateway.ops(path).status_code == 200, path
    assert httpx.get(gateway.url + "/health/liveliness").status_code == 200
    assert httpx.get(gateway.url + "/health/readiness").status_code == 200
    r = httpx.get(gateway.operations_url + "/v1/models", headers={"authorization": f"Bearer {KEY}"})
    assert r.status_code == 404


def test_an_operations_port_that_is_taken_or_the_gateways_own_refuses_the_start(
    compiled_project: Path, redis_server: RedisServer
) -> None:
    def serve(port: int, operations_port: int) -> subprocess.CompletedProcess[str]:
        environ = gateway_environ(
            "http://127.0.0.1:9", redis_server.url, POLICY_GATEWAY_OPERATIONS_PORT=str(operations_port)
        )
        command = [str(BIN / "gatewayctl"), "serve", "--env", "staging", "--port", str(port)]
        return subprocess.run(
            [*command, "--generated", str(compiled_project)],
            env={**clean_environ(), **environ},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    port = free_port()
    result = serve(port, port)
    assert result.returncode == 1 and "operations port" in result.stderr
    with socket.create_server(("127.0.0.1", 0)) as taken:
        result = serve(port, taken.getsockname()[1])
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("gatewayctl serve: refusing to start: cannot listen on 127.0.0.1:"), last
    assert "(operations port): Address already in use" in last
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # the gateway's port was never served


# --- Redis -----------------------------------------------------------------------------------------


def test_the_redis_pool_never_opens_more_than_its_cap(
    start_gateway: Callable[..., Gateway], start_redis: Callable[[], RedisServer]
) -> None:
    private = start_redis()
    gateway = start_gateway(redis_url=private.url, POLICY_GATEWAY_REDIS_MAX_CONNECTIONS="2")
    probe = redis.Redis.from_url(private.url)
    peak = 0

    async def load() -> list[int]:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=20) as client:
            answers = await asyncio.gather(
                *(
                    client.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {KEY}"})
                    for _ in range(40)
                )
            )
        return [a.status_code for a in answers]

    async def watch(done: asyncio.Event) -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, len(await asyncio.to_thread(probe.client_list)) - 1)  # not our own
            await asyncio.sleep(0.01)

    async def run() -> list[int]:
        done = asyncio.Event()
        watcher = asyncio.create_task(watch(done))
        try:
            return await load()
        finally:
            done.set()
            await watcher

    statuses = asyncio.run(run())
    # every request got its rate-limit decision from Redis; the backend's concurrency (8) refuses some
    assert set(statuses) <= {200, 429} and statuses.count(200) >= 8, statuses
    assert 1 <= peak <= 2
    assert len(probe.client_list()) - 1 <= 2
    probe.close()
