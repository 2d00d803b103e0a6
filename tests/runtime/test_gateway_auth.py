"""Client authentication: the one strict parser of `Authorization: Bearer` and `api-key`, the
per-address limit on failed attempts (injected clock), the client address behind trusted proxies,
and where the operations endpoints are served. Through the real HTTP parser: tests/integration."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from gateway_fakes import KEY, chat, ops_get

from runtime.errors import ApiError
from runtime.gateway.auth import (
    Authenticator,
    AuthFailureLimiter,
    client_address,
    presented_key,
    trusted_networks,
)

SECRET = "sk-Secret_0123.456~789+/abc=="


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": f"Bearer {SECRET}"},
        {"authorization": f"bearer {SECRET}"},  # the scheme is case-insensitive (RFC 9110 §11.1)
        {"authorization": f"BEARER {SECRET}"},
        {"api-key": SECRET},
        {"authorization": f"Bearer {SECRET}", "api-key": SECRET},  # both, with the same key
    ],
)
def test_the_key_is_read_from_a_well_formed_header(headers: dict[str, str]) -> None:
    assert presented_key(headers) == SECRET


@pytest.mark.parametrize(
    ("headers", "code", "says"),
    [
        ({}, "missing_api_key", "missing API key"),
        ({"authorization": f"Bearer  {SECRET}"}, "invalid_authorization", "malformed Authorization"),
        ({"authorization": f"Bearer {SECRET} "}, "invalid_authorization", "malformed Authorization"),
        ({"authorization": f"Bearer {SECRET}\t"}, "invalid_authorization", "malformed Authorization"),
        ({"authorization": f" Bearer {SECRET}"}, "invalid_authorization", "malformed Authorization"),
        ({"authorization": f"Bearer\t{SECRET}"}, "invalid_authorization", "malformed Authorization"),
        ({"authorization": "Bearer"}, "invalid_authorization", "malformed Authorization"),
        ({"authorization": "Bearer "}, "invalid_authorization", "malformed Authorization"),
        ({"authorization": ""}, "invalid_authorization", "malformed Authorization"),
        ({"authorization": SECRET}, "invalid_authorization", "malformed Authorization"),
        ({"authorization": f"Basic {SECRET}"}, "invalid_authorization", "unsupported authorization scheme"),
        ({"authorization": f"Token {SECRET}"}, "invalid_authorization", "unsupported authorization scheme"),
        ({"authorization": f"Bearer {SECRET[:5]} {SECRET[5:]}"}, "invalid_authorization", "malformed"),
        ({"authorization": f"Bearer {SECRET}, Bearer sk-other"}, "invalid_authorization", "malformed"),
        ({"authorization": "Bearer sk=Secret"}, "invalid_authorization", "malformed"),  # `=` only at the end
        ({"authorization": "Bearer sk-Sécret"}, "invalid_authorization", "malformed"),
        ({"authorization": 'Bearer "sk-Secret"'}, "invalid_authorization", "malformed"),
        ({"api-key": ""}, "invalid_authorization", "malformed api-key"),
        ({"api-key": f"{SECRET} "}, "invalid_authorization", "malformed api-key"),
        ({"api-key": f"Bearer {SECRET}"}, "invalid_authorization", "malformed api-key"),
        (
            {"authorization": f"Bearer {SECRET}", "api-key": "sk-other"},
            "invalid_authorization",
            "different keys",
        ),
    ],
)
def test_every_other_form_is_a_401_that_says_what_to_send(headers: dict[str, str], code: str, says: str) -> None:
    with pytest.raises(ApiError) as info:
        presented_key(headers)
    error = info.value
    assert (error.status, error.code, error.type) == (401, code, "authentication_error")
    assert says in error.message
    assert "Authorization: Bearer <key>" in error.message
    assert SECRET not in error.message and "Secret" not in error.message


def test_the_authenticator_names_a_valid_key_by_its_id_and_refuses_others() -> None:
    auth = Authenticator([SECRET, "sk-other"])
    key_id = auth.authenticate({"authorization": f"Bearer {SECRET}"})
    assert len(key_id) == 16 and key_id == auth.authenticate({"api-key": SECRET})
    with pytest.raises(ApiError) as info:
        auth.authenticate({"authorization": "Bearer sk-wrong"})
    assert (info.value.status, info.value.code) == (401, "invalid_api_key")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_refused_after_n_failures_in_a_sliding_minute() -> None:
    clock = Clock()
    limiter = AuthFailureLimiter(3, clock=clock)
    for _ in range(2):
        limiter.check("10.0.0.1")
        assert limiter.record("10.0.0.1") is False
        clock.now += 10
    limiter.check("10.0.0.1")
    assert limiter.record("10.0.0.1") is True  # the third: the allowance is used up
    with pytest.raises(ApiError) as info:
        limiter.check("10.0.0.1")
    assert (info.value.status, info.value.code, info.value.type) == (429, "too_many_auth_failures", "rate_limit_error")
    assert info.value.headers == [(b"retry-after", b"40")]  # the first failure leaves the window at +60 s
    limiter.check("10.0.0.2")  # another address is not affected
    clock.now += 39.5
    with pytest.raises(ApiError) as info:
        limiter.check("10.0.0.1")
    assert info.value.headers == [(b"retry-after", b"1")]
    clock.now += 0.5
    limiter.check("10.0.0.1")  # one failure has left the window: one more attempt
    limiter.record("10.0.0.1")
    with pytest.raises(ApiError):
        limiter.check("10.0.0.1")
    clock.now += 60
    limiter.check("10.0.0.1")
    assert limiter.retry_after_s("10.0.0.1") == 0.0


def test_the_failure_table_forgets_the_oldest_address_beyond_its_size() -> None:
    limiter = AuthFailureLimiter(1, clock=Clock(), max_addresses=2)
    for address in ("a", "b", "c"):
        limiter.record(address)
    assert limiter.retry_after_s("a") == 0.0  # forgotten
    assert limiter.retry_after_s("b") > 0 and limiter.retry_after_s("c") > 0


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("10.0.0.9", "203.0.113.7", [], "10.0.0.9"),  # no trusted proxy: X-Forwarded-For is ignored
        ("198.51.100.1", "203.0.113.7", ["10.0.0.0/8"], "198.51.100.1"),  # the peer is not a proxy
        ("10.0.0.9", "203.0.113.7", ["10.0.0.0/8"], "203.0.113.7"),
        ("10.0.0.9", "6.6.6.6, 203.0.113.7", ["10.0.0.0/8"], "203.0.113.7"),  # spoofed hops before it
        ("10.0.0.9", "203.0.113.7, 10.1.1.1", ["10.0.0.0/8"], "203.0.113.7"),  # two proxies
        ("10.0.0.9", "10.2.2.2, 10.1.1.1", ["10.0.0.0/8"], "10.2.2.2"),  # every hop trusted: the first
        ("10.0.0.9", "not-an-address", ["10.0.0.0/8"], "10.0.0.9"),
        ("10.0.0.9", None, ["10.0.0.0/8"], "10.0.0.9"),
        ("::1", "2001:db8::7", ["::1"], "2001:db8::7"),
        (None, "203.0.113.7", ["10.0.0.0/8"], "unknown"),
    ],
)
def test_the_client_address_is_the_peer_or_what_trusted_proxies_say(
    peer: str | None, forwarded: str | None, trusted: list[str], client: str
) -> None:
    assert client_address(peer, forwarded, trusted_networks(trusted)) == client


# --- through the app -------------------------------------------------------------------------------


def _client_from(app: Any, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 4444)), base_url="http://gateway.test"
    )


async def test_failed_authentications_are_throttled_per_address_and_counted_without_the_key(
    gateway: Any, provider: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app, client = await gateway({"POLICY_GATEWAY_AUTH_FAILURES_PER_MINUTE": "3"})
    wrong = {"authorization": f"Bearer {SECRET}"}
    for _ in range(3):
        r = await client.post("/v1/chat/completions", json=chat(), headers=wrong)
        assert r.status_code == 401, r.text
    r = await client.post("/v1/chat/completions", json=chat(), headers=wrong)
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "too_many_auth_failures"
    assert 55 <= int(r.headers["retry-after"]) <= 60
    # the address is refused whatever it presents, so guessing does not pay (its own key too)
    assert (await client.post("/v1/chat/completions", json=chat())).status_code == 429
    assert (await client.get("/v1/models")).status_code == 429
    assert (await client.get("/health/readiness")).status_code == 200  # no key needed, not refused
    async with _client_from(app, "10.7.7.7") as other:
        r = await other.post("/v1/chat/completions", json=chat(), headers={"authorization": f"Bearer {KEY}"})
        assert r.status_code == 200, r.text
    metrics = (await ops_get(app, "/metrics")).text
    assert 'policy_gateway_auth_failures_total{code="invalid_api_key"} 3.0' in metrics
    assert 'policy_gateway_auth_failures_total{code="too_many_auth_failures"} 3.0' in metrics
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "authentication failures throttled" in logged
    assert SECRET not in logged and "Secret" not in logged


async def test_an_upstream_401_is_not_a_failed_authentication_of_the_client(gateway: Any, provider: Any) -> None:
    app, client = await gateway({"POLICY_GATEWAY_AUTH_FAILURES_PER_MINUTE": "1"})
    for _ in range(2):
        provider.state.script({"path": "/v1/chat/completions", "status": 401, "body": "no"})
        r = await client.post("/v1/chat/completions", json=chat())
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "upstream_error"
    assert app.auth_failures.retry_after_s("10.1.2.3") == 0.0


async def test_operations_endpoints_are_served_only_on_the_operations_app(gateway: Any) -> None:
    app, client = await gateway()
    for path in ("/metrics", "/health", "/v1/gateway/status", "/hot-reload/status"):
        r = await client.get(path)  # with a valid client key, and without
        assert r.status_code == 404, path
        assert "operations port" in r.json()["error"]["message"]
        async with _client_from(app, "10.7.7.7") as anonymous:
            assert (await anonymous.get(path)).status_code == 404
        assert (await ops_get(app, path)).status_code == 200, path
    async with _client_from(app, "10.7.7.7") as anonymous:
        assert (await anonymous.get("/health/liveliness")).status_code == 200
        assert (await anonymous.get("/health/readiness")).status_code == 200
        assert (await anonymous.get("/v1/models")).status_code == 401
    assert (await ops_get(app, "/health/readiness")).status_code == 200
    assert (await ops_get(app, "/v1/models")).status_code == 404  # client routes are not on it
    assert (await ops_get(app, "/v1/chat/completions")).status_code == 404

