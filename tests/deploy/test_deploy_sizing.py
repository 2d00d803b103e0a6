"""The rendered chart fits the traffic the specs describe: the ingress lets the longest model call
and the largest body through, and a stopping pod finishes its longest request before it is killed.

The bounds are read from the other compiled artifacts (the LiteLLM config's model timeouts,
gateway.json's body limit), not from the values, so the check crosses artifacts.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from helmchart import ENVIRONMENTS, GENERATED, find, load_values, parse_manifests
from ruamel.yaml import YAML

NGINX = "nginx.ingress.kubernetes.io/"
UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def longest_model_timeout(env: str) -> float:
    config = YAML(typ="safe").load((GENERATED / env / "litellm" / "config.yaml").read_text())
    return max(float(m["litellm_params"]["timeout"]) for m in config["model_list"])


def nginx_bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", size.lower()).groups()  # type: ignore[union-attr]
    return int(number) * UNITS[unit]


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("name", ["policy-gateway", "llm-provider"])
def test_a_stopping_pod_sleeps_out_of_the_endpoints_then_drains_its_longest_request(
        render: Any, env: str, name: str) -> None:
    pod = find(parse_manifests(render(load_values(env))), "Deployment", name)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    sleep_s = int(re.fullmatch(r"import time; time.sleep\((\d+)\)", command[-1]).group(1))  # type: ignore[union-attr]
    assert command[:2] == ["python", "-c"] and sleep_s >= 1
    assert pod["terminationGracePeriodSeconds"] >= sleep_s + longest_model_timeout(env)


def test_prod_ingress_timeouts_and_body_size_fit_the_models_and_the_gateway(render: Any) -> None:
    ingress = find(parse_manifests(render(load_values("prod"))), "Ingress", "policy-gateway")
    annotations = ingress["metadata"]["annotations"]
    longest = longest_model_timeout("prod")
    assert longest == 300  # image-default and transcribe-default: far above nginx's 60 s default
    assert int(annotations[NGINX + "proxy-read-timeout"]) >= longest
    assert int(annotations[NGINX + "proxy-send-timeout"]) >= longest
    max_body = json.loads((GENERATED / "prod" / "gateway.json").read_text())["max_body_bytes"]
    assert nginx_bytes(annotations[NGINX + "proxy-body-size"]) >= max_body
    assert annotations["cert-manager.io/cluster-issuer"] == "internal-ca"  # the spec's own annotation


def test_chart_refuses_a_pod_without_a_grace_period(render: Any) -> None:
    values: dict[str, Any] = load_values("prod")
    values["gateway"]["terminationGracePeriodSeconds"] = 0
    with pytest.raises(Exception, match="terminationGracePeriodSeconds"):
        render(values)
