"""schemas/spec.schema.json, generated from the pydantic models (never edited by hand)."""

from __future__ import annotations

from typing import Any

from compiler.emit._json import dump_json
from compiler.model import SpecDocument

SCHEMA_PATH = "schemas/spec.schema.json"


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
