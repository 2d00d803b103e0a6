"""When LiteLLM falls back, the gateway's decision headers name the model and backend that answered
(LiteLLM's x-litellm-model-id is the spec's model name, compiled as model_info.id), not the one asked for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gateway_stack import FakeProviderProcess, Gateway, LiteLLMProxy, litellm_test_config
from ruamel.yaml import YAML

pytestmark = pytest.mark.integration

DOWN = "/down/v1"  # where the primary's backend points: every call there fails


@pytest.fixture
def proxy_with_a_failing_primary(
    compiled_project: Path, fake_provider: FakeProviderProcess, tmp_path: Path
) -> Iterator[LiteLLMProxy]:
    """The staging config (chat-default on gpu_fast falls back to gpt-4o-mini on openai), with
    gpu_fast's address answering 500."""
    config = litellm_test_config(compiled_project, "staging", fake_provider.base_url, name="fallback-config.yaml")
    yaml = YAML(typ="safe")
    doc = yaml.load(config.read_text())
    [primary] = [m for m in doc["model_list"] if m["model_name"] == "chat-default"]
    primary["litellm_params"]["api_base"] = fake_provider.base_url + DOWN
    with config.open("w") as out:
        yaml.dump(doc, out)
    proxy = LiteLLMProxy(config, tmp_path / "litellm.log").start()
    yield proxy
    proxy.stop()


def test_headers_name_the_fallback_that_answered(
    proxy_with_a_failing_primary: LiteLLMProxy, start_gateway: Callable[..., Gateway],
    fake_provider: FakeProviderProcess,
) -> None:
    fake_provider.reset()
    fake_provider.script(path=f"{DOWN}/chat/completions", times=20, status=500,
                         headers=[["content-type", "application/json"]], body='{"error": {"message": "down"}}')
    gateway = start_gateway(upstream=proxy_with_a_failing_primary.url)
    try:
        r = gateway.chat()
        assert r.status_code == 200, r.text
        assert r.headers["x-model-used"] == "gpt-4o-mini"
        assert r.headers["x-backend-used"] == "openai"
        assert r.headers["x-router-reason"] == "fallback:chat-default->gpt-4o-mini"
        paths = [req["path"] for req in fake_provider.requests()]
        assert f"{DOWN}/chat/completions" in paths  # the primary was tried first
        assert paths[-1] == "/v1/chat/completions"  # and the fallback answered
        # a stream names the answering model in its headers too
        r = gateway.chat(stream=True)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/event-stream")
        assert (r.headers["x-model-used"], r.headers["x-backend-used"]) == ("gpt-4o-mini", "openai")
        # with the primary back, the primary answers and the headers say so
        fake_provider.reset()
        r = gateway.chat()
        assert r.status_code == 200, r.text
        assert (r.headers["x-model-used"], r.headers["x-backend-used"]) == ("chat-default", "gpu_fast")
        assert r.headers["x-router-reason"] == "model-map:chat-default->gpu_fast"
    finally:
        fake_provider.reset()
