"""The in-proxy guardrail proves its bundle as the gateway does (the `bundle_trust` parameter
gatewayctl emits beside `policy_bundle`): an unproven bundle stops the proxy at start, and a reload
to one is refused (the loaded bundle keeps serving) and reported with the revision that serves."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "policy"))
from policy_helpers import files, signed, tampered_mode, with_version, write_tar  # the compiled bundles
from signing import es256_keypair

from runtime.litellm_guardrail import GuardrailConfigError, PolicyBundleGuardrail
from runtime.litellm_guardrail._policies import _reload

KEY_ID = "guardrail-test-1"
TRUST = {
    "production": False,
    "allow_off_in_production": False,
    "signature": {"key_id": KEY_ID, "algorithm": "ES256", "public_key": None,
                  "public_key_env": "GUARDRAIL_TEST_BUNDLE_KEY", "required": True},
}


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return es256_keypair()


def guardrail(bundle: Path, trust: dict[str, Any] = TRUST) -> PolicyBundleGuardrail:
    return PolicyBundleGuardrail(guardrail_name="policy-prompt", event_hook="pre_call", policy_bundle=str(bundle),
                                 bundle_trust=trust)


def test_a_signed_bundle_loads_and_an_unsigned_one_stops_the_proxy(
    tmp_path: Path, keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUARDRAIL_TEST_BUNDLE_KEY", keys[1])
    good = guardrail(write_tar(tmp_path / "signed.tar.gz", signed(files("dev"), keys[0], KEY_ID)))
    assert good._store.status()["signed_by"] == KEY_ID  # type: ignore[attr-defined]
    with pytest.raises(GuardrailConfigError, match="is not signed"):
        guardrail(write_tar(tmp_path / "unsigned.tar.gz", files("dev")))


def test_without_the_verification_key_the_proxy_does_not_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUARDRAIL_TEST_BUNDLE_KEY", raising=False)
    with pytest.raises(GuardrailConfigError, match="GUARDRAIL_TEST_BUNDLE_KEY is not set"):
        guardrail(write_tar(tmp_path / "b.tar.gz", files("dev")))


def test_a_reload_to_an_unproven_bundle_is_refused_and_reported(
    tmp_path: Path, keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("GUARDRAIL_TEST_BUNDLE_KEY", keys[1])
    first = signed(files("dev"), keys[0], KEY_ID)
    bundle = write_tar(tmp_path / "bundle.tar.gz", first)
    store: Any = guardrail(bundle)._store
    revision = store.status()["revision"]
    write_tar(bundle, tampered_mode(first, "prompt", "off"))
    os.utime(bundle, ns=(1, 1))
    _reload(store, "policy-prompt")
    assert store.status()["revision"] == revision
    rejected = [r.__dict__["attributes"] for r in caplog.records
                if r.__dict__.get("event") == "policy_gateway.guardrail.bundle_rejected"]
    assert rejected and rejected[-1]["revision"] == revision
    assert rejected[-1]["error"].startswith("data.json does not match its digest")
    write_tar(bundle, signed(with_version(files("dev"), "prompt", "9.0.0"), keys[0], KEY_ID))
    _reload(store, "policy-prompt")
    reloaded = [r.__dict__["attributes"] for r in caplog.records
                if r.__dict__.get("event") == "policy_gateway.guardrail.bundle_reloaded"]
    assert reloaded[-1]["previous_revision"] == revision
    assert reloaded[-1]["revision"].startswith("prompt-9.0.0.")
