"""What an environment's `observability` compiles into, beyond the example specs' snapshots: the
signals it leaves out, LiteLLM's callback turned off, callbacks the specs already list, and the
gateway's settings without a collector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from compiler.cli import main
from compiler.write import read_tree

PROD = """    observability:
      otlp_endpoint: http://otel-collector.observability:4317
      protocol: grpc
      headers: {authorization: os.environ/OTLP_AUTHORIZATION}  # the collector's bearer token
      sampling_ratio: 0.25
"""


def compile_prod(project: Path, tmp_path: Path, observability: str, settings: str | None = None) -> dict[str, Any]:
    gateway = project / "specs" / "gateway.yaml"
    text = gateway.read_text()
    assert PROD in text
    gateway.write_text(text.replace(PROD, observability))
    if settings is not None:
        backends = project / "specs" / "backends.yaml"
        text = backends.read_text()
        assert "    callbacks: [prometheus]  # LiteLLM's /metrics\n" in text
        backends.write_text(text.replace("    callbacks: [prometheus]  # LiteLLM's /metrics\n", settings))
    result = CliRunner().invoke(main, ["-C", str(project), "compile", "--env", "prod", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    files = read_tree(tmp_path / "out")
    return {
        "compose": yaml.safe_load(files["prod/docker-compose.yml"]),
        "litellm": yaml.safe_load(files["prod/litellm/config.yaml"]),
        "env": files["prod/.env.example"].decode(),
        "helm": yaml.safe_load(files["prod/helm/values.yaml"]),
    }


def test_signals_left_out_are_not_exported(project: Path, tmp_path: Path) -> None:
    out = compile_prod(project, tmp_path, "    observability: {otlp_endpoint: 'http://collector:4318', "
                                          "signals: [traces], sampling_ratio: 0.5}\n")
    gateway = out["compose"]["services"]["policy-gateway"]["environment"]
    assert (gateway["OTEL_TRACES_EXPORTER"], gateway["OTEL_METRICS_EXPORTER"], gateway["OTEL_LOGS_EXPORTER"]) == (
        "otlp", "none", "none")
    assert gateway["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"  # the default
    assert gateway["OTEL_TRACES_SAMPLER_ARG"] == "0.5"
    assert "OTEL_EXPORTER_OTLP_HEADERS" not in gateway
    assert "OTEL_TRACES_EXPORTER=otlp\n" in out["env"] and "OTLP_AUTHORIZATION" not in out["env"]


def test_litellm_callback_off_leaves_the_proxy_alone(project: Path, tmp_path: Path) -> None:
    out = compile_prod(project, tmp_path, "    observability: {otlp_endpoint: 'http://collector:4318', "
                                          "litellm_callback: false}\n")
    proxy = out["compose"]["services"]["llm-provider"]["environment"]
    assert not [k for k in proxy if k.startswith("OTEL_")]
    assert out["litellm"]["litellm_settings"]["callbacks"] == ["prometheus"]  # the specs' own
    assert "env" not in out["helm"]["litellm"] and "expandedEnv" not in out["helm"]["litellm"]
    assert out["compose"]["services"]["policy-gateway"]["environment"]["OTEL_SERVICE_NAME"] == "policy-gateway"


def test_otel_is_added_to_the_callbacks_the_specs_list(project: Path, tmp_path: Path) -> None:
    out = compile_prod(project, tmp_path, PROD, settings="    callbacks: [prometheus]\n")
    assert out["litellm"]["litellm_settings"]["callbacks"] == ["prometheus", "otel"]
    headers = {"OTEL_EXPORTER_OTLP_HEADERS": "authorization=$(OTLP_AUTHORIZATION)"}
    assert out["helm"]["litellm"]["expandedEnv"] == out["helm"]["gateway"]["expandedEnv"] == headers
    assert out["helm"]["litellm"]["secretEnv"]["OTLP_AUTHORIZATION"] == "OTLP_AUTHORIZATION"
    assert out["helm"]["networkPolicy"]["collectorPort"] == 4317


def test_otel_listed_by_the_specs_is_not_listed_twice(project: Path, tmp_path: Path) -> None:
    out = compile_prod(project, tmp_path, PROD, settings="    callbacks: [otel, prometheus]\n")
    assert out["litellm"]["litellm_settings"]["callbacks"] == ["otel", "prometheus"]


def test_without_a_collector_nothing_is_exported(project: Path, tmp_path: Path) -> None:
    out = compile_prod(project, tmp_path, "")
    for service in ("policy-gateway", "llm-provider"):
        assert not [k for k in out["compose"]["services"][service]["environment"] if k.startswith("OTEL_")]
    assert out["litellm"]["litellm_settings"]["callbacks"] == ["prometheus"]
    assert out["helm"]["networkPolicy"]["collectorPort"] is None
    assert "OTEL_" not in out["env"]
