"""The thin caller of the binding's Go library (runtime/policy/_opa_native.py) hands the engine
what the binding's own json.dumps would: orjson where it writes the same JSON, json where it would
not (NaN and infinities, integers beyond 64 bits), and the engine's answers and refusals come back
as before."""

from __future__ import annotations

import gc
import json
import math

import orjson
import pytest

from runtime.policy._engines import EngineError, RegoEngine
from runtime.policy._opa_native import NativeError, NativeOpa, input_json

ECHO = RegoEngine({"echo.rego": "package echo\n\nvalue := input.value\n\nbig if input.value > 1000000\n"}, {})


@pytest.mark.parametrize("value", [
    {"texts": [{"field": "messages[0].content", "role": "user", "text": "caf\u00e9 \U0001f600 \u202e \x1e"}]},
    {"value": None},
    {"value": 2**64 + 1},
    {"value": [1.5, -0.0, True, "null"]},
])
def test_the_input_is_the_json_the_binding_would_send(value: object) -> None:
    assert json.loads(input_json(value)) == json.loads(json.dumps(value, ensure_ascii=False))


def test_plain_input_is_encoded_by_orjson() -> None:
    value = {"texts": [{"field": "input", "text": "a" * 4096}]}
    assert input_json(value) == orjson.dumps(value)


def test_an_integer_beyond_64_bits_reaches_the_engine() -> None:
    assert ECHO.evaluate("echo/big", {"value": 10**30}) is True


@pytest.mark.parametrize("number", [math.nan, math.inf])
def test_a_number_json_cannot_hold_is_refused_as_before(number: float) -> None:
    # orjson would write null (a missing number); json writes NaN/Infinity, which the engine refuses
    with pytest.raises(EngineError, match="invalid character"):
        ECHO.evaluate("echo/value", {"value": number})


def test_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(EngineError, match="not valid UTF-8"):
        ECHO.evaluate("echo/value", {"value": "a\udc00b"})


def test_an_undefined_document_says_so() -> None:
    with pytest.raises(EngineError, match="echo/big is undefined for this input"):
        ECHO.evaluate("echo/big", {"value": 3})


def test_a_closed_engine_refuses_calls() -> None:
    engine = NativeOpa()
    engine.close()
    with pytest.raises(NativeError, match="closed"):
        engine.add_policy("x.rego", "package x\n")


def test_a_nul_in_a_policy_is_refused() -> None:
    with pytest.raises(NativeError, match="NUL"):
        NativeOpa().add_policy("x.rego", "package x\n\na := 1\x00\n")


def test_an_engine_dropped_without_close_is_destroyed() -> None:
    # the engine of a thread that ended: its compiled policies must not stay in the Go heap
    engine = NativeOpa()
    destroy = engine._destroy
    del engine
    gc.collect()
    assert not destroy.alive
