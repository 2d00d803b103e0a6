"""`gatewayctl litellm-check`: any LiteLLM config.yaml against the same models the specs use, with
the same file:line:col messages and hints."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from compiler.errors import Position, SpecError
from compiler.litellm_surface._from_litellm import LITELLM_VERSION
from compiler.litellm_surface.config import LiteLLMConfig
from compiler.litellm_surface.router import LLMROUTER_HINT
from compiler.litellm_surface.secrets import literal_secrets
from compiler.load import SourceMap
from compiler.safe_yaml import YamlProblem, read_yaml
from compiler.typecheck import check_against
from compiler.yaml_data import plain_data


def check_config(path: Path, rel: str) -> list[SpecError]:
    """Every problem of one LiteLLM config file (errors and warnings)."""
    try:
        _raw, node = read_yaml(path, rel)
    except YamlProblem as exc:
        return [exc.error]
    if not isinstance(node, CommentedMap) or not node:
        return [SpecError(Position(rel, 1, 1), "a LiteLLM config must be a mapping of sections",
                          "write model_list:, router_settings:, litellm_settings:, general_settings: ...")]
    smap = SourceMap()
    smap.values[()] = Position(rel, 1, 1)
    data = plain_data(node, rel, smap)
    config, problems = check_against(LiteLLMConfig, data, smap)
    problems += literal_secrets(data, smap)
    if config is not None and config.router_settings is not None:
        strategy = config.router_settings.routing_strategy
        if strategy.startswith("llmrouter-"):
            problems.append(SpecError(
                smap.locate(("router_settings", "routing_strategy")),
                f"router_settings.routing_strategy: LiteLLM {LITELLM_VERSION} refuses {strategy!r} "
                "(Invalid routing_strategy)", LLMROUTER_HINT))
    return problems
