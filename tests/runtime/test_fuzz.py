"""The robustness suite: thousands of generated requests, valid and mutated, against every endpoint
of the gateway (in-process, the fake provider upstream, the prompt policy in enforce and in
monitor), checking two properties over all of them:

- a client mistake is never a 5xx: whatever the request, the answer is below 500;
- nothing invalid is forwarded: every request the fake provider receives matches its endpoint's
  schema (the same schemas the gateway publishes in GET /openapi.json).

Generation is derandomised (the same cases every run), so a failure reproduces; its message lists
the requests that failed. FUZZ_CASES sets the count (default 2,400; the suite takes ~30 s on 2
cores); FUZZ_TRACE=1 prints each request before it is sent (with -s). Strategies:
tests/runtime/fuzz_strategies.py.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from fuzz_strategies import Case, cases
from gateway_fakes import KEY, FakePolicyStore
from hypothesis import HealthCheck, Phase, given, settings
from test_gateway_endpoints import EVERYTHING

from runtime.endpoints import ENDPOINTS, FormFile, SchemaError, match, validate_form, validate_request
from runtime.gateway.app import GatewayApp

CASES = int(os.environ.get("FUZZ_CASES", "2400"))
ENVIRONMENT = {
    **EVERYTHING,
    "endpoints": list(ENDPOINTS),
    "agents": ["agent-1"],
    "mcp_servers": ["srv"],
    "rate_limit": {},
}
MODELS: dict[str, list[str]] = {}
for _name, _model in EVERYTHING["models"].items():
    MODELS.setdefault(_model["capability"], []).append(_name)


def generate(count: int) -> list[Case]:
    """`count` cases, the same every run (no shrinking: the failure message lists the cases)."""
    out: list[Case] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(cases(MODELS))
    def collect(case: Case) -> None:
        out.append(case)

    collect()
    return out


async def send(client: httpx.AsyncClient, case: Case) -> httpx.Response:
    if case.method == "GET":
        return await client.get(case.path)
    if case.form or case.files:
        return await client.post(case.path, data=case.form, files=case.files)
    content = case.raw if case.raw is not None else json.dumps(case.json_body).encode()
    return await client.post(case.path, content=content, headers={"content-type": "application/json"})


def forwarded_problem(seen: dict[str, Any], strict: bool) -> str | None:
    """Why a request the upstream received does not match its endpoint's schema, or None."""
    path = seen["path"]
    found = match(seen["method"], path)
    if found is None:
        return f"{seen['method']} {path} is no route of the gateway"
    endpoint = found.endpoint
    if found.route.kind == "read" or seen["method"] == "GET":
        return None
    try:
        if "files" in seen:
            fields = [(k, x) for k, v in seen["body"].items() for x in (v if isinstance(v, list) else [v])]
            files = [FormFile(f["field"], f["filename"], f["content_type"] or "", b"") for f in seen["files"]]
            validate_form(endpoint, fields, files)
        else:
            validate_request(endpoint, seen["body"], strict=strict)
    except SchemaError as exc:
        return f"{path}: {exc.message}"
    return None


@pytest.fixture
async def gateways(make_settings: Any) -> Any:
    """Two gateways on the same fake provider: the prompt policy enforcing, and monitoring."""
    apps = []
    for mode in ("enforce", "monitor"):
        policies = {"prompt": {"version": "1.0.0", "mode": mode}, "output": {"version": "1.2.0", "mode": "enforce"}}
        app = GatewayApp(make_settings(**ENVIRONMENT, policies=policies), FakePolicyStore(prompt_mode=mode))
        await app.startup()
        apps.append((mode == "enforce", app))
    clients = [
        (strict, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test",
                                   headers={"authorization": f"Bearer {KEY}"}, timeout=30))
        for strict, app in apps
    ]
    yield clients
    for _, client in clients:
        await client.aclose()
    for _, app in apps:
        await app.shutdown()


async def test_no_generated_request_is_a_5xx_and_nothing_invalid_is_forwarded(gateways: Any, provider: Any) -> None:
    started = time.perf_counter()
    generated = generate(CASES)
    generation_s = time.perf_counter() - started
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []
    invalid_forwarded: list[str] = []
    forwarded = 0
    provider.state.files.add_file("in.jsonl", "batch", b"{}\n")
    for n, case in enumerate(generated):
        strict, client = gateways[n % 2]
        before = len(provider.state.requests)
        if os.environ.get("FUZZ_TRACE"):
            print(n, case.describe()[:400], flush=True)
        r = await send(client, case)
        statuses[r.status_code] += 1
        if r.status_code >= 500:
            server_errors.append(f"{r.status_code} {case.describe()} -> {r.text[:300]}")
        for seen in provider.state.requests[before:]:
            forwarded += 1
            problem = forwarded_problem(seen, strict)
            if problem is not None:
                invalid_forwarded.append(f"{problem} <- {case.describe()}")
        del provider.state.requests[:]
    elapsed = time.perf_counter() - started
    summary = (
        f"fuzz: {len(generated)} requests ({generation_s:.1f} s to generate, {elapsed:.1f} s in all), "
        f"{forwarded} forwarded, {len(server_errors)} answered 5xx, {len(invalid_forwarded)} invalid forwarded; "
        f"statuses {dict(sorted(statuses.items()))}; "
        f"mutations {dict(Counter(c.mutation.split(' ')[0] for c in generated))}"
    )
    print(summary)
    assert len(generated) >= 2000, summary
    assert not server_errors, "\n".join([summary, *server_errors[:20]])
    assert not invalid_forwarded, "\n".join([summary, *invalid_forwarded[:20]])
    # the cases reach the upstream and are refused alike: a suite that only hits 400s proves little
    assert forwarded >= len(generated) // 5 and statuses[400] >= len(generated) // 5, summary
