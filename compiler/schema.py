"""schemas/spec.schema.json and schemas/litellm-config.schema.json, generated from the pydantic models
(never edited by hand)."""

from __future__ import annotations

from typing import Any

from compiler.emit._json import dump_json
from compiler.model import SpecDocument

SCHEMA_PATH = "schemas/spec.schema.json"
LITELLM_SCHEMA_PATH = "schemas/litellm-config.schema.json"


def spec_schema() -> str:
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **SpecDocument.model_json_schema(by_alias=True, mode="validation"),
    }
    schema["title"] = "Gateway spec (one file in specs/; sections may be split across files)"
    # A single file holds only some sections, so none is required at file level;
    # gatewayctl validate checks the merged document.
    schema.pop("required", None)
    return dump_json(schema)


def litellm_config_schema() -> str:
    """A JSON Schema for any LiteLLM proxy config.yaml, from the models `litellm-check` uses."""
    from compiler.litellm_surface._from_litellm import LITELLM_VERSION
    from compiler.litellm_surface.config import LiteLLMConfig

    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **LiteLLMConfig.model_json_schema(by_alias=True, mode="validation"),
    }
    schema["title"] = f"LiteLLM proxy config.yaml (LiteLLM {LITELLM_VERSION})"
    return dump_json(schema)


def schemas() -> dict[str, str]:
    return {SCHEMA_PATH: spec_schema(), LITELLM_SCHEMA_PATH: litellm_config_schema()}
