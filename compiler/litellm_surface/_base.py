"""Building blocks of the LiteLLM surface models: strict models, pass-through fields, rule errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic_core import PydanticCustomError


class LiteLLMModel(BaseModel):
    """Unknown keys are errors (with a "did you mean"); LiteLLM's names start with model_ too."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, protected_namespaces=())


def passthrough(
    name: str, names: Iterable[str], section: str, base: type[LiteLLMModel] = LiteLLMModel
) -> type[LiteLLMModel]:
    """A model that takes each of `names` as a value LiteLLM accepts and we do not type further.

    The typed subclasses override the fields they check; the rest keep unknown keys out (a typo is
    an error) without pretending to know more about them than LiteLLM's own signature does.
    """
    fields: dict[str, Any] = {}
    for key in sorted(set(names) - set(base.model_fields)):
        description = f"LiteLLM {section}.{key} (passed through; see LiteLLM's documentation)"
        if hasattr(BaseModel, key):  # json, copy, schema, ...: keep pydantic's attribute, alias the key
            fields[f"{key}_"] = (Any, Field(None, alias=key, description=description))
        else:
            fields[key] = (Any, Field(None, description=description))
    return create_model(name, __base__=base, **fields)


def rule_error(message: str, hint: str) -> PydanticCustomError:
    """A validation error whose hint the compiler prints as written (compiler/typecheck.py)."""
    return PydanticCustomError("gateway_rule", message, {"hint": hint})


def did_you_mean(value: str, choices: Iterable[str], *, listing: int = 12) -> str:
    options = sorted(choices)
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    if close:
        return f'did you mean "{close[0]}"?'
    shown = ", ".join(options[:listing]) + (", ..." if len(options) > listing else "")
    return f"use one of {shown}"
