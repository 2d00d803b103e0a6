"""`gatewayctl bundle sign` and `gatewayctl bundle verify`: the release step that signs a compiled
policy bundle, and the check the gateway will make of it.

Signing adds `.signatures.json` to the bundle, in OPA's format, so `opa run --verification-key`
accepts the same bundle: `{"signatures": ["<JWT>"]}`, the JWT signed with the private key, its
header naming the key (`kid`), its payload listing every other file of the bundle with OPA's hash
of it (runtime/policy/_digests.py) and the key id again (`keyid`, OPA's older claim):

    {"files": [{"name": ".manifest", "hash": "<hex>", "algorithm": "SHA-256"}, ...], "keyid": "<id>"}

The key id and algorithm are the ones the compiled gateway.json names (from the specs'
`policy_bundle.signing`); the private key comes from an environment variable of the release
pipeline (or a file mounted from its secret store) and is never written anywhere. A bundle is
signed only when its files match its manifest, and the signature is verified (with the key the
specs name where it is available here) before anything is written. Signing does not change the
revision: it is derived from the files the manifest lists, which the signature only vouches for.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.emit._json import dump_json
from compiler.emit.opa_bundle import tar_gz
from compiler.write import write_file_atomic

__all__ = ["SignError", "Signed", "Verified", "sign_bundle", "verify_bundle"]

HASH_ALGORITHM = "SHA-256"


class SignError(Exception):
    """The bundle cannot be signed or verified as asked; the message is one line."""


@dataclass(frozen=True)
class Signed:
    path: Path
    revision: str
    key_id: str
    algorithm: str
    sha256: str  # of the signed archive: what the Helm values pin (checksums.policyBundle)
    checked_against: str  # where the verification key of the check came from


@dataclass(frozen=True)
class Verified:
    revision: str
    signed_by: str | None
    versions: Mapping[str, str]
    modes: Mapping[str, str]
    sha256: str


def trust_settings(generated: Path, env: str) -> dict[str, Any]:
    """gateway.json's `policy_bundle` for env: what the gateway will require of the bundle."""
    path = generated / env / "gateway.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SignError(f"{path} not found: compile the environment first (gatewayctl compile)") from None
    except (OSError, ValueError) as exc:
        raise SignError(f"{path} is unreadable: {exc}") from None
    section = data.get("policy_bundle") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise SignError(f"{path} has no policy_bundle section: recompile with this gatewayctl")
    return section


def sign_bundle(
    bundle: Path,
    out: Path,
    settings: Mapping[str, Any],
    private_key: str,
    key_source: str,
    *,
    key_id: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Signed:
    """Sign `bundle` as `settings` (gateway.json's policy_bundle) name the key, write it to `out`."""
    from runtime.policy import BundleError, BundleTrust
    from runtime.policy._bundle import read_bundle_files
    from runtime.policy._digests import MANIFEST, SIGNATURES, opa_file_hash
    from runtime.policy._trust import VerificationKey, check_manifest, check_modes, check_signature

    environ = os.environ if environ is None else environ
    signature = settings.get("signature")
    if not isinstance(signature, Mapping):
        raise SignError("this environment's specs configure no policy_bundle.signing: there is no key to sign for")
    spec_key_id, algorithm = str(signature["key_id"]), str(signature["algorithm"])
    if key_id is not None and key_id != spec_key_id:
        raise SignError(f"--key-id {key_id} is not the key id the specs name ({spec_key_id}); the gateway trusts "
                        f"only that one (change policy_bundle.signing.key_id to rotate)")
    signing_key, derived_public = _private_key(private_key, algorithm, key_source)
    try:
        files, _ = read_bundle_files(bundle)
        check_manifest(files, json.loads(files[MANIFEST]))
        # What the gateway would refuse anyway (a policy off in production) is not signed either.
        modes = {name: config["mode"] for name, config in json.loads(files["data.json"])["gateway"]["config"].items()}
        check_modes(json.loads(files[MANIFEST]), modes, BundleTrust(
            production=settings.get("production") is True,
            allow_off_in_production=settings.get("allow_off_in_production") is True))
    except (KeyError, TypeError):
        raise SignError(f"{bundle}: {MANIFEST} or data.json is missing or malformed: not a compiled bundle") from None
    except (BundleError, ValueError) as exc:
        raise SignError(f"{bundle}: {exc}; refusing to sign it") from None
    content = {name: data for name, data in files.items() if name != SIGNATURES}
    payload = {
        "files": [{"name": name, "hash": opa_file_hash(name, data), "algorithm": HASH_ALGORITHM}
                  for name, data in sorted(content.items())],
        "keyid": spec_key_id,
    }
    import jwt

    token = jwt.encode(payload, signing_key, algorithm=algorithm, headers={"kid": spec_key_id})
    signed = {**content, SIGNATURES: dump_json({"signatures": [token]}).encode("utf-8")}
    verification, checked_against = _verification_key(signature, derived_public, environ)
    trust = BundleTrust(signature_required=True, key=VerificationKey(spec_key_id, algorithm, verification),
                        key_id=spec_key_id)
    try:
        check_signature(signed, trust)
    except BundleError as exc:
        raise SignError(f"the new signature does not verify with {checked_against} ({exc}): the signing key is "
                        f"not the pair of the key the specs name") from None
    archive = tar_gz(signed)
    write_file_atomic(out, archive)
    revision = json.loads(content[MANIFEST])["revision"]
    return Signed(out, revision, spec_key_id, algorithm, hashlib.sha256(archive).hexdigest(), checked_against)


def verify_bundle(bundle: Path, settings: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Verified:
    """What the gateway checks before it loads `bundle`, with the same settings (production as
    compiled, or as SEA_ENV says) and key (from the same variable)."""
    from runtime.policy import BundleError, TrustConfigError, bundle_trust
    from runtime.policy._bundle import read_bundle

    environ = os.environ if environ is None else environ
    try:
        trust = bundle_trust(settings, environ, production=environ.get("SEA_ENV") == "production")
        loaded = read_bundle(bundle, trust)
    except (BundleError, TrustConfigError) as exc:
        raise SignError(f"{bundle}: {exc}") from None
    return Verified(loaded.revision, loaded.signed_by, loaded.versions, loaded.modes,
                    hashlib.sha256(bundle.read_bytes()).hexdigest() if bundle.is_file() else loaded.digest)


def _private_key(material: str, algorithm: str, source: str) -> tuple[Any, Any]:
    """The signing key for `algorithm`, and what verifies its signatures (its public key, or the
    secret itself for HS*)."""
    from runtime.policy import TrustConfigError, load_verification_key

    if algorithm.startswith("HS"):
        try:
            secret = load_verification_key(material, algorithm, source)
        except TrustConfigError as exc:
            raise SignError(str(exc)) from None
        return secret, secret
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_private_key,
    )

    try:
        key = load_pem_private_key(material.strip().encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError):
        raise SignError(f"{source} is not an unencrypted PEM private key") from None
    public = key.public_key()
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")
    try:
        load_verification_key(pem, algorithm, source)  # the key fits the algorithm (type, curve, size)
    except TrustConfigError as exc:
        raise SignError(str(exc)) from None
    return key, public


def _verification_key(signature: Mapping[str, Any], derived: Any, environ: Mapping[str, str]) -> tuple[Any, str]:
    """The key the gateway will verify with, where it is available here; else the signing key's own
    public half (which proves the signature well-formed, not that the gateway trusts the key)."""
    from runtime.policy import TrustConfigError, load_verification_key

    algorithm = str(signature["algorithm"])
    pem, env_name = signature.get("public_key"), signature.get("public_key_env")
    if isinstance(pem, str) and pem:
        source = "the public key compiled into gateway.json"
    elif isinstance(env_name, str) and environ.get(env_name):
        pem, source = environ[env_name], f"the verification key in {env_name}"
    else:
        return derived, f"the signing key's own public key ({env_name} is not set here)"
    try:
        return load_verification_key(pem, algorithm, source), source
    except TrustConfigError as exc:
        raise SignError(str(exc)) from None
