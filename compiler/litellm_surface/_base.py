"""Building blocks of the LiteLLM surface models: strict models, pass-through keys, rule errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, ValidationError, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError


class LiteLLMModel(BaseModel):
    """Unknown keys are errors (with a "did you mean"); LiteLLM's names start with model_ too."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, protected_namespaces=())


class PassThrough(LiteLLMModel):
    """A section whose common keys are typed fields and whose other keys are the names LiteLLM
    accepts there (`passthrough_keys`), passed on unchecked; any other key is an error at that key,
    reported with the typed fields' own errors.

    Why not one Any field per name: LiteLLM's sections take hundreds of names, and building that
    many fields costs `gatewayctl validate` most of its time budget (docs/benchmarks.md, P1).
    """

    model_config = ConfigDict(extra="allow")
    passthrough_keys: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def accepted_keys(cls) -> frozenset[str]:
        return frozenset(f.alias or n for n, f in cls.model_fields.items()) | cls.passthrough_keys

    @model_validator(mode="wrap")
    @classmethod
    def _only_accepted_keys(cls, data: Any, handler: Any) -> Any:
        if not isinstance(data, dict):
            return handler(data)
        accepted = cls.accepted_keys()
        unknown = [key for key in data if key not in accepted]
        if not unknown:
            return handler(data)
        errors = [InitErrorDetails(type="extra_forbidden", loc=(key,), input=data[key]) for key in unknown]
        try:
            handler({k: v for k, v in data.items() if k not in unknown})
        except ValidationError as exc:  # the typed fields' errors too, in the same run
            errors += [InitErrorDetails(type=PydanticCustomError(e["type"], e["msg"].replace("{", "(").replace(
                "}", ")"), e.get("ctx")), loc=e["loc"], input=e["input"]) for e in exc.errors()]
        raise ValidationError.from_exception_data(cls.__name__, errors)

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        schema["propertyNames"] = {"enum": sorted(cls.accepted_keys())}  # editors complete and check the names
        return schema


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
