"""The parity matrix: every endpoint of the table, by {plain, streamed where it streams}, by {a
clean request, a prompt with PII, a jailbreak, PII in the answer}, by {through the gateway, through
the in-proxy guardrail}, against real LiteLLM proxies (only the model provider is faked) and a real
Redis, the staging policies in enforce. Both routes must reach the same decision with the same
status code and the same decision headers; where LiteLLM cannot carry what the gateway does, the
cell says so in GAPS (with the reason, tests/integration/LITELLM_ENDPOINTS.md "Our guardrail"),
and the gap itself is asserted, so it is noticed the day it closes.

The rows come from runtime.endpoints.ENDPOINTS: an endpoint without a way to call it here
(endpoint_calls.CALLS) fails test_every_endpoint_has_its_rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from endpoint_calls import (
    ANSWER_HEADERS,
    ANSWERS,
    AUTH,
    CALLS,
    CLEAN_PROMPT,
    JAILBREAK_PROMPT,
    PII,
    PII_PROMPT,
    REBUILT,
    REFUSAL_HEADERS,
    SSN,
    SSN_REPLY,
    STREAMED,
    call,
    guard_staging,
    guarded_config,
    mcp_result,
    refusal_error,
    start_proxy,
    stream,
    stream_slot,
)
from gateway_stack import (
    CLIENT_KEYS,
    FakeProviderProcess,
    Gateway,
    RedisServer,
    compile_project,
    gateway_environ,
    launch_gateway,
    litellm_test_config,
)

from runtime.endpoints import ENDPOINTS

pytestmark = pytest.mark.integration

CLIENT = {"authorization": f"Bearer {CLIENT_KEYS[0]}"}
SCENARIOS = ("clean", "pii_prompt", "jailbreak_prompt", "pii_answer")
REDACTED_REPLY = SSN_REPLY.replace(SSN, "[REDACTED:ssn]")


@dataclass(frozen=True)
class Cell:
    endpoint: str
    scenario: str
    streamed: bool

    @property
    def id(self) -> str:
        return f"{self.endpoint}-{self.scenario}-{'stream' if self.streamed else 'plain'}"


CELLS = [
    Cell(endpoint, scenario, streamed)
    for endpoint in ENDPOINTS
    for streamed in ((False, True) if endpoint in STREAMED else (False,))
    for scenario in SCENARIOS
    if scenario != "pii_answer" or endpoint in ANSWERS
    if not streamed or scenario in ("clean", "pii_answer")
]

# What LiteLLM cannot do as the gateway does, cell by cell: (endpoint, scenario) -> why.
GAPS: dict[tuple[str, str], str] = {
    ("batches", "pii_prompt"): "LiteLLM answers /v1/batches errors through a handler that imports prisma: a 500",
    ("batches", "jailbreak_prompt"): "LiteLLM answers /v1/batches errors through a handler that imports prisma: a 500",
}
# Answers no guardrail hook sees inside LiteLLM (tests/integration/LITELLM_ENDPOINTS.md).
UNGUARDED_ANSWERS = {"audio_transcriptions": "no hook after a transcription", "rerank": "no hook after a rerank"}


def test_every_endpoint_has_its_rows() -> None:
    assert set(CALLS) == set(ENDPOINTS), "add a way to call the endpoint (endpoint_calls.CALLS)"
    assert {c.endpoint for c in CELLS} == set(ENDPOINTS)


# --- the two routes ------------------------------------------------------------------------------


@dataclass
class Route:
    name: str
    url: str
    auth: dict[str, str]


@pytest.fixture(scope="module")
def compiled(fake_provider: FakeProviderProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One compile for both routes: staging (enforce) with the gateway on and `guardrails: in_proxy`."""
    return compile_project(tmp_path_factory.mktemp("parity"), fake_provider.base_url, guard_staging)


@pytest.fixture(scope="module")
def routes(
    compiled: Path,
    fake_provider: FakeProviderProcess,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Route]]:
    logs = tmp_path_factory.mktemp("parity-logs")
    plain = start_proxy(litellm_test_config(compiled, "staging", fake_provider.base_url), logs / "plain.log")
    guarded = start_proxy(guarded_config(compiled, "staging", fake_provider.base_url), logs / "guarded.log")
    gateway: Gateway | None = None
    try:
        gateway = launch_gateway(compiled, "staging", gateway_environ(plain.url, redis_server.url), logs / "gw.log")
        yield {
            "gateway": Route("gateway", gateway.url, CLIENT),
            "in_proxy": Route("in_proxy", guarded.url, AUTH),
        }
    finally:
        if gateway is not None:
            gateway.stop()
        guarded.stop()
        plain.stop()


@pytest.fixture(autouse=True)
def clean_provider(fake_provider: FakeProviderProcess) -> Iterator[None]:
    fake_provider.reset()
    yield
    fake_provider.reset()


# --- one cell on one route -----------------------------------------------------------------------


@dataclass
class Outcome:
    status: int
    decision: str | None
    categories: list[str]
    text: str | None  # the answer's text where the reply lands
    forwarded: bool  # the flagged text reached the provider
    body: str
    content_type: str

    def summary(self) -> tuple[int, str | None, list[str]]:
        return self.status, self.decision, self.categories


def run(route: Route, cell: Cell, provider: FakeProviderProcess) -> Outcome:
    provider.reset()
    prompt = {"pii_prompt": PII_PROMPT, "jailbreak_prompt": JAILBREAK_PROMPT}.get(cell.scenario, CLEAN_PROMPT)
    if cell.scenario == "pii_answer":
        slot = stream_slot(cell.endpoint) if cell.streamed else ANSWERS[cell.endpoint].slot
        provider.control(reply=SSN_REPLY, reply_in=[slot], chunk_chars=4)
    if cell.endpoint == "batches":  # a batch needs an uploaded input file, through the same route
        upload = call(route.url, "files", CLEAN_PROMPT, route.auth)
        assert upload.status_code == 200, upload.text
        r = call(route.url, cell.endpoint, prompt, route.auth, input_file_id=upload.json()["id"])
        provider.reset()  # what counts is what the batch request carried
    else:
        r = (stream if cell.streamed else call)(route.url, cell.endpoint, prompt, route.auth)
    decision = r.headers.get("x-policy-decision")
    categories = sorted(r.headers.get("x-policy-categories", "").split(",")) if decision else []
    categories = [c for c in categories if c]
    text = None
    if cell.scenario == "pii_answer" and r.status_code == 200:
        answer = ANSWERS[cell.endpoint]
        read = answer.streamed if cell.streamed else answer.text
        text = read(r) if read is not None else None
    flagged = {"pii_prompt": PII, "jailbreak_prompt": "previous instructions"}.get(cell.scenario)
    forwarded = bool(flagged) and provider.saw(flagged)
    return Outcome(r.status_code, decision, categories, text, forwarded, r.text, r.headers.get("content-type", ""))


def _refused(cell: Cell, outcome: Outcome, route: str) -> None:
    """The prompt was refused on this route: never forwarded, the refusal as the API carries it."""
    assert not outcome.forwarded, f"{cell.id} on {route}: the flagged prompt reached the provider"
    if cell.endpoint == "mcp":  # a blocked tool call is a tool error inside a 200 (both routes)
        assert outcome.status == 200 and mcp_result(_response(outcome))["isError"] is True
        return
    assert outcome.status in (403, 413), outcome.body


def _response(outcome: Outcome) -> httpx.Response:
    return httpx.Response(outcome.status, text=outcome.body, headers={"content-type": outcome.content_type})


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_both_routes_decide_alike(routes: dict[str, Route], fake_provider: FakeProviderProcess, cell: Cell) -> None:
    gateway = run(routes["gateway"], cell, fake_provider)
    proxy = run(routes["in_proxy"], cell, fake_provider)
    gap = GAPS.get((cell.endpoint, cell.scenario))
    if cell.scenario == "clean":
        assert gateway.status == proxy.status == 200, (gateway.body, proxy.body)
        assert gateway.decision in ("allow", "monitor")
        if cell.endpoint in ANSWER_HEADERS:
            assert proxy.decision == gateway.decision
    elif cell.scenario in ("pii_prompt", "jailbreak_prompt"):
        _refused(cell, gateway, "the gateway")
        assert gateway.decision == "block"
        if gap:
            assert proxy.status == 500 and not proxy.forwarded, gap
            return
        _refused(cell, proxy, "the in-proxy guardrail")
        assert proxy.status == gateway.status
        if cell.endpoint in REFUSAL_HEADERS:
            assert proxy.summary() == gateway.summary()
        if cell.endpoint not in REBUILT and cell.endpoint != "mcp":
            error = refusal_error(cell.endpoint, _response(proxy))
            expected = "pii" if cell.scenario == "pii_prompt" else "jailbreak"
            assert expected in error["categories"]
    else:  # PII in the answer: redacted on the way back (a stream's headers carry the prompt's decision)
        assert gateway.status == 200, gateway.body
        assert gateway.decision == ("allow" if cell.streamed else "redact")
        assert SSN not in gateway.body
        if gateway.text is not None:
            assert gateway.text.strip() == REDACTED_REPLY
        if cell.endpoint in UNGUARDED_ANSWERS:
            assert proxy.status == 200 and SSN in proxy.body, UNGUARDED_ANSWERS[cell.endpoint]
            return
        assert proxy.status == 200 and SSN not in proxy.body, proxy.body
        assert proxy.text == gateway.text
        if cell.endpoint in ANSWER_HEADERS and not cell.streamed:
            assert proxy.summary() == gateway.summary()

