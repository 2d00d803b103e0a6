"""Where a backend's prompts go when the spec does not say: read from its base_url."""

from __future__ import annotations

import pytest

from compiler.locality import locality
from compiler.model.backends import Backend


@pytest.mark.parametrize(("base_url", "expected"), [
    ("http://127.0.0.1:10240/v1", "local"),
    ("http://localhost:11434", "local"),
    ("http://10.2.3.4:8000/v1", "private"),
    ("http://192.168.1.20:7860", "private"),
    ("http://gpu-fast.internal:11434", "private"),
    ("http://ada2.local:7860", "private"),
    ("http://vllm.models.svc.cluster.local:8000/v1", "private"),
    ("http://gpu-box:8000", "private"),  # a single label resolves only inside the site
    ("https://api.openai.com/v1", "external"),
    ("https://8.8.8.8/v1", "external"),
    ("https://internal.example.com/v1", "external"),  # a public name, whatever it is called
])
def test_locality_follows_the_base_url(base_url: str, expected: str) -> None:
    assert locality(Backend(base_url=base_url, capabilities=["chat"])) == expected


def test_the_spec_says_where_a_proxy_on_the_site_sends_prompts() -> None:
    backend = Backend(base_url="http://llm-egress.internal:4000", capabilities=["chat"], locality="external")
    assert locality(backend) == "external"
