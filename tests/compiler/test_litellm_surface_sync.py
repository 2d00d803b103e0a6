"""The LiteLLM surface models against the installed LiteLLM: the copied names are current, and every
field typed by hand is a name LiteLLM has (no invented keys that LiteLLM would ignore)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from compiler.litellm_surface import _from_litellm as names
from compiler.litellm_surface.config import LiteLLMConfig
from compiler.litellm_surface.general import GeneralSettings
from compiler.litellm_surface.providers import OTHER_MODEL, PROVIDER_MODELS
from compiler.litellm_surface.router import RouterSettings
from compiler.litellm_surface.settings import CacheParams, LitellmSettings

ROOT = Path(__file__).resolve().parents[2]
SYNC = ROOT / "scripts" / "litellm_surface_sync.py"


def test_the_copied_names_match_the_installed_litellm(tmp_path: Path) -> None:
    """scripts/litellm_surface_sync.py, run against the installed LiteLLM, writes the same file."""
    # In a process of its own: importing LiteLLM here would slow every later test's imports.
    code = f"import pathlib, runpy; pathlib.Path({str(tmp_path / 'names.py')!r}).write_text(" \
           f"runpy.run_path({str(SYNC)!r})['render']())"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, timeout=300)
    current = (ROOT / "compiler" / "litellm_surface" / "_from_litellm.py").read_text(encoding="utf-8")
    assert (tmp_path / "names.py").read_text(encoding="utf-8") == current, "run scripts/litellm_surface_sync.py"


def test_typed_router_settings_are_router_arguments() -> None:
    assert set(RouterSettings.model_fields) <= names.ROUTER_ARGS


def test_typed_litellm_settings_are_litellm_attributes_or_proxy_keys() -> None:
    from compiler.litellm_surface.settings import PROXY_BRANCHES

    assert {f.alias or n for n, f in LitellmSettings.model_fields.items()} <= names.MODULE_SETTINGS | PROXY_BRANCHES


def test_typed_general_settings_are_litellm_general_settings() -> None:
    assert {f.alias or n for n, f in GeneralSettings.model_fields.items()} <= names.GENERAL_SETTINGS


def test_typed_cache_params_are_cache_or_redis_arguments() -> None:
    # Sentinel and the connection options go through Cache(**kwargs) to RedisCache.
    redis_kwargs = {"service_name", "sentinel_nodes", "sentinel_password", "url", "ssl", "db"}
    assert set(CacheParams.model_fields) <= names.CACHE_PARAMS | redis_kwargs
    assert set(CacheParams.model_fields["type"].annotation.__args__) == names.CACHE_TYPES  # type: ignore[union-attr]


def test_provider_parameters_are_litellm_params_or_request_defaults() -> None:
    from compiler.litellm_surface.providers import REQUEST_DEFAULTS

    for model in (*PROVIDER_MODELS.values(), OTHER_MODEL):
        assert set(model.model_fields) - {"model"} <= names.LITELLM_PARAMS | REQUEST_DEFAULTS, model.__name__


def test_a_whole_config_has_litellm_s_top_level_keys() -> None:
    assert {"model_list", "router_settings", "litellm_settings", "general_settings",
            "environment_variables"} <= set(LiteLLMConfig.model_fields)
