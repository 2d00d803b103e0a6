"""The WebAssembly engine on a small module the real OPA compiler emitted (../shared/fixtures/opa-wasm:
`opa build -t wasm -e test/p`; p is true when input.fragment == "moo"): loading, entrypoints,
threads, and a bundle holding policy.wasm served by it when the wasm engine is asked for. Our own
policies' modules: tests/policy/test_policy_wasm_build.py and test_engine_parity.py."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from policy_helpers import WASM_FIXTURE, files, write_dir

from compiler.emit.opa_bundle import seal
from runtime.policy import BundleError, PolicyStore
from runtime.policy._engines import EngineError, WasmEngine

pytestmark = pytest.mark.skipif(
    not WASM_FIXTURE.is_file(),
    reason=f"the OPA-compiled fixture {WASM_FIXTURE} is absent (it lives in ../shared, outside the repository)",
)


@pytest.fixture(scope="module")
def engine() -> WasmEngine:
    return WasmEngine(WASM_FIXTURE.read_bytes(), {}, entrypoints=("test/p",))


def test_defined_decision(engine: WasmEngine) -> None:
    assert engine.evaluate("test/p", {"fragment": "moo"}) is True


def test_undefined_decision_is_an_engine_error(engine: WasmEngine) -> None:
    with pytest.raises(EngineError, match="undefined"):
        engine.evaluate("test/p", {"fragment": "baa"})


def test_a_missing_entrypoint_is_refused_at_load() -> None:
    with pytest.raises(EngineError, match="gateway/prompt/decision"):
        WasmEngine(WASM_FIXTURE.read_bytes(), {}, entrypoints=("gateway/prompt/decision",))


def test_not_wasm_is_an_engine_error() -> None:
    with pytest.raises(EngineError):
        WasmEngine(b"\0asm garbage", {}, entrypoints=())


def test_threads_share_the_engine(engine: WasmEngine) -> None:
    results: list[object] = []

    def work() -> None:
        results.extend(engine.evaluate("test/p", {"fragment": "moo", "pad": "x" * 4096}) for _ in range(50))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [True] * 200


def test_a_bundle_with_policy_wasm_is_served_by_the_wasm_engine(tmp_path: Path) -> None:
    # The fixture has no gateway decisions, so the store refuses it at load, after choosing the
    # WASM engine for it as asked: the error is the WASM engine's.
    content = files("prod")
    manifest = json.loads(content[".manifest"])
    manifest["wasm"] = [{"entrypoint": "gateway/prompt/decision", "module": "/policy.wasm"}]
    bundle = write_dir(tmp_path / "b", seal({**content, ".manifest": json.dumps(manifest).encode(),
                                             "policy.wasm": WASM_FIXTURE.read_bytes()}))
    with pytest.raises(BundleError, match=r"policy\.wasm has no entrypoint gateway/output/decision"):
        PolicyStore(bundle, engine="wasm")
    assert PolicyStore(bundle).status()["engine"] == "rego"  # auto: the faster engine


def test_the_wasm_engine_needs_a_module(tmp_path: Path) -> None:
    bundle = write_dir(tmp_path / "b", files("prod"))
    with pytest.raises(BundleError, match=r"holds no policy\.wasm"):
        PolicyStore(bundle, engine="wasm")
