"""The gateway's hot reload with the real policy store and its trust settings: a bundle that is not
proven is rejected (event and metric with the revision that keeps serving), a signed new version
is swapped in, and the status endpoints report the revision, modes and signer actually loaded."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_fakes import chat, ops_get

sys.path.insert(0, str(Path(__file__).parents[1] / "policy"))
from policy_helpers import files, signed, tampered_mode, with_version, write_tar  # the compiled bundles
from signing import es256_keypair

from runtime.gateway.app import GatewayApp
from runtime.policy import BundleError, PolicyStore, bundle_trust
from runtime.settings import Settings, startup_problems

KEY_ID = "gateway-test-1"
SSN = "my SSN is 123-45-6789"


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return es256_keypair()


POLICY_BUNDLE = {
    "production": True,
    "allow_off_in_production": False,
    "signature": {"key_id": KEY_ID, "algorithm": "ES256", "public_key": None, "public_key_env": "BUNDLE_KEY",
                  "required": True},
}


def place(path: Path, content: dict[str, bytes]) -> None:
    """A new bundle file, visibly changed (the gateway checks mtime, size and inode)."""
    tmp = path.with_suffix(".new")
    write_tar(tmp, content)
    os.replace(tmp, path)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [r.__dict__["attributes"] for r in caplog.records if r.__dict__.get("event") == name]


async def test_an_unproven_bundle_is_rejected_and_a_signed_new_version_is_loaded(
    gateway: Any, make_settings: Callable[..., Settings], keys: tuple[str, str], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    private, public = keys
    environ = {"BUNDLE_KEY": public}
    settings = make_settings(environ, policy_bundle=POLICY_BUNDLE)
    assert settings.bundle_trust.signature_required and settings.bundle_trust.production
    trust = settings.bundle_trust
    first = signed(files("prod"), private, KEY_ID)
    store = PolicyStore(write_tar(tmp_path / "first.tar.gz", first), trust=trust)
    revision = store.status()["revision"]
    app = GatewayApp(settings, store, store_factory=partial(PolicyStore, trust=trust))
    await app.startup()
    try:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test",
                                   headers={"authorization": f"Bearer {settings.client_keys[0]}"})
        bundle = settings.bundle_path
        # The finding: data.json says off, the manifest (and the signature) untouched.
        place(bundle, tampered_mode(first, "prompt", "off"))
        assert await app.check_bundle() is False
        reload = (await ops_get(app, "/hot-reload/status")).json()
        assert reload["revision"] == revision
        assert reload["last_error"].startswith("data.json does not match its digest in .manifest")
        assert reload["rejected"] == 1 and reload["signed_by"] == KEY_ID
        assert events(caplog, "policy_gateway.policy_bundle.rejected")[-1]["revision"] == revision
        assert 'policy_gateway_bundle_reloads_total{result="rejected"} 1.0' in (await ops_get(app, "/metrics")).text
        assert store.evaluate("prompt", {"texts": [{"field": "t", "role": "user", "text": SSN}]})["allow"] is False
        # A new version, compiled properly but not signed.
        place(bundle, with_version(files("prod"), "prompt", "9.0.0"))
        assert await app.check_bundle() is False
        assert "is not signed" in (await ops_get(app, "/hot-reload/status")).json()["last_error"]
        # The same version, signed: loaded, and every status says so.
        place(bundle, signed(with_version(files("prod"), "prompt", "9.0.0"), private, KEY_ID))
        assert await app.check_bundle() is True
        reload = (await ops_get(app, "/hot-reload/status")).json()
        assert reload["revision"] != revision and reload["revision"].startswith("prompt-9.0.0.")
        assert (reload["last_error"], reload["reloads"]) == (None, 1)
        status = (await ops_get(app, "/v1/gateway/status")).json()["policies"]
        output = json.loads(files("prod")[".manifest"])["metadata"]["policies"]["output"]["version"]
        assert status == {"revision": reload["revision"], "versions": {"prompt": "9.0.0", "output": output},
                          "modes": {"prompt": "enforce", "output": "enforce"}, "signed_by": KEY_ID}
        loaded = events(caplog, "policy_gateway.policy_bundle.reloaded")[-1]
        assert (loaded["revision"], loaded["previous_revision"], loaded["signed_by"]) == (
            reload["revision"], revision, KEY_ID)
        assert (await client.post("/v1/chat/completions", json=chat(SSN))).status_code == 403
        await client.aclose()
    finally:
        await app.shutdown()


def test_without_the_verification_key_the_gateway_refuses_to_start_and_trusts_no_bundle(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings({}, policy_bundle=POLICY_BUNDLE)
    problems = startup_problems(settings)
    assert any(p.startswith("policy bundles must be signed") and "BUNDLE_KEY is not set" in p for p in problems)
    with pytest.raises(BundleError):  # fails closed meanwhile
        PolicyStore(write_tar(tmp_path / "b.tar.gz", files("prod")), trust=settings.bundle_trust)


def test_production_from_sea_env_makes_the_trust_stricter(make_settings: Callable[..., Settings]) -> None:
    relaxed = {**POLICY_BUNDLE, "production": False, "signature": None}
    assert make_settings({}, policy_bundle=relaxed).bundle_trust.production is False
    assert make_settings({"SEA_ENV": "production"}, policy_bundle=relaxed).bundle_trust.production is True
    assert bundle_trust(relaxed, {}, production=False).production is False
