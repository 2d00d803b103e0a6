"""When a bundle may be loaded: what the specs require of it (a signature with a named key, no
policy `off` in production) and the checks that prove it, run before any bundle is loaded or
swapped in.

- The manifest: every file of the bundle is listed in `.manifest` (`metadata.files`) with its
  sha256, nothing else is in the bundle, and the revision is the one its content gives
  (runtime/policy/_digests.py). Always checked: a file edited on disk is refused.
- The signature: OPA's `.signatures.json` (`{"signatures": ["<JWT>"]}`), a JWT whose payload lists
  every other file with OPA's hash of it (`{"files": [{"name", "hash", "algorithm"}], "keyid"}`),
  signed with the key the specs name. The key id is required and must be that key's: it is read
  from the JWT's `kid` header (or OPA's older `keyid` claim). Checked whenever the bundle is signed,
  and a bundle without one is refused where the specs require it.
- The modes: in production, a policy whose mode is `off` is refused unless the specs allow it
  (`policy_bundle.allow_off_in_production`).

The settings come from gateway.json's `policy_bundle` (the gateway) or the guardrail's
`bundle_trust` parameter (LiteLLM), both compiled from the specs' `policy_bundle` section; the
verification key itself is PEM text in them (a committed public key) or an environment variable
they name. Every refusal is a BundleError with a one-line reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.policy._digests import (
    FILE_DIGESTS_KEY,
    HASHES,
    MANIFEST,
    POLICIES,
    SIGNATURES,
    opa_file_hash,
    parse_json,
    revision,
)
from runtime.policy._errors import BundleError

__all__ = [
    "ALGORITHMS",
    "BundleTrust",
    "TrustConfigError",
    "VerificationKey",
    "bundle_trust",
    "check_manifest",
    "check_modes",
    "check_signature",
    "load_verification_key",
]

# OPA's bundle signing algorithms (`opa build --signing-alg`).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "HS256", "HS384",
              "HS512")
_EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
_MIN_RSA_BITS = 2048
_MIN_SECRET_BYTES = 32
_MAX_SIGNATURES_BYTES = 1024 * 1024


class TrustConfigError(Exception):
    """The bundle trust settings cannot be used (a missing or malformed key); one line."""


@dataclass(frozen=True)
class VerificationKey:
    key_id: str
    algorithm: str
    key: Any = field(repr=False, compare=False)  # a cryptography public key, or the HMAC secret (bytes)


@dataclass(frozen=True)
class BundleTrust:
    """What a bundle must prove before it is loaded. The default asks only for a manifest whose
    digests match (what `gatewayctl policy eval` and the tests load)."""

    signature_required: bool = False
    key: VerificationKey | None = None  # None: no key configured (or, where not required, not set)
    key_id: str | None = None  # the key id the specs name, also when its key is not available here
    production: bool = False
    allow_off_in_production: bool = False

    def describe(self) -> dict[str, Any]:
        """What is required, for the status endpoints (never the key)."""
        return {
            "signature_required": self.signature_required,
            "key_id": self.key_id,
            "algorithm": self.key.algorithm if self.key is not None else None,
            "production": self.production,
            "allow_off_in_production": self.allow_off_in_production,
        }


def bundle_trust(raw: Mapping[str, Any] | None, environ: Mapping[str, str], *, production: bool) -> BundleTrust:
    """The trust settings of gateway.json's `policy_bundle` (or the guardrail's `bundle_trust`).
    `production` is the caller's own reading (SEA_ENV); the settings can only make it stricter."""
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise TrustConfigError("policy_bundle must be an object")
    production = production or raw.get("production") is True
    allow_off = raw.get("allow_off_in_production") is True
    signature = raw.get("signature")
    if signature is None:
        return BundleTrust(production=production, allow_off_in_production=allow_off)
    if not isinstance(signature, Mapping):
        raise TrustConfigError("policy_bundle.signature must be an object")
    key_id, algorithm = signature.get("key_id"), signature.get("algorithm")
    if not isinstance(key_id, str) or not key_id:
        raise TrustConfigError("policy_bundle.signature.key_id is missing: a signed bundle must name its key")
    if algorithm not in ALGORITHMS:
        raise TrustConfigError(f"policy_bundle.signature.algorithm {algorithm!r} is not one of {', '.join(ALGORITHMS)}")
    required = signature.get("required") is True
    material, source = _key_material(signature, environ)
    if material is None:
        if required:
            raise TrustConfigError(
                f"policy bundles must be signed (key id {key_id!r}) but {source} is not set: "
                "give the gateway the verification key"
            )
        return BundleTrust(key_id=key_id, production=production, allow_off_in_production=allow_off)
    key = VerificationKey(key_id, algorithm, load_verification_key(material, algorithm, source))
    return BundleTrust(required, key, key_id, production, allow_off)


def _key_material(signature: Mapping[str, Any], environ: Mapping[str, str]) -> tuple[str | None, str]:
    pem, env_name = signature.get("public_key"), signature.get("public_key_env")
    if isinstance(pem, str) and pem:
        return pem, "policy_bundle.signature.public_key"
    if isinstance(env_name, str) and env_name:
        return (environ.get(env_name) or None), env_name
    raise TrustConfigError("policy_bundle.signature names no public_key and no public_key_env")


def load_verification_key(material: str, algorithm: str, source: str) -> Any:
    """The key object for `algorithm` (PEM public key, or the HS* secret), checked for its type and
    strength; `source` names where it came from in the messages."""
    if algorithm.startswith("HS"):
        secret = material.encode("utf-8")
        if len(secret) < _MIN_SECRET_BYTES:
            raise TrustConfigError(f"{source}: an {algorithm} secret needs at least {_MIN_SECRET_BYTES} bytes")
        return secret
    # Imported here: the compiler imports runtime.policy for the digests, and needs no crypto for them.
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    text = material.strip()
    if "PRIVATE KEY" in text.split("\n", 1)[0]:
        raise TrustConfigError(f"{source} holds a private key: give the gateway the public key only")
    try:
        key = load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError, TypeError):
        raise TrustConfigError(f"{source} is not a PEM public key (-----BEGIN PUBLIC KEY-----)") from None
    if algorithm.startswith(("RS", "PS")):
        if not isinstance(key, rsa.RSAPublicKey):
            raise TrustConfigError(f"{source} is not an RSA key, which {algorithm} needs")
        if key.key_size < _MIN_RSA_BITS:
            raise TrustConfigError(f"{source} is a {key.key_size}-bit RSA key; {algorithm} needs {_MIN_RSA_BITS}+")
    else:
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != _EC_CURVES[algorithm]:
            raise TrustConfigError(f"{source} is not an EC key on {_EC_CURVES[algorithm]}, which {algorithm} needs")
    return key


# --- the checks ------------------------------------------------------------------------------------


def check_manifest(files: Mapping[str, bytes], manifest: Mapping[str, Any]) -> None:
    """The bundle holds exactly the files its manifest lists, each with the listed sha256, and the
    manifest's revision is the one its content gives."""
    declared = _mapping(manifest.get("metadata")).get(FILE_DIGESTS_KEY)
    if not isinstance(declared, Mapping) or not declared:
        raise _refuse(".manifest lists no file digests (metadata.files): not a bundle written by this "
                      "gatewayctl compile; recompile it")
    present = {name for name in files if name not in (MANIFEST, SIGNATURES)}
    _same_names(present, set(declared), unlisted="{} is in the bundle but not listed in .manifest",
                absent=".manifest lists {}, which the bundle does not hold")
    for name in sorted(present):
        want = declared[name]
        actual = "sha256:" + hashlib.sha256(files[name]).hexdigest()
        if want != actual:
            raise _refuse(f"{name} does not match its digest in .manifest ({_short(actual)}, .manifest says "
                          f"{_short(str(want))}): the file was changed after the compile")
    try:  # from the manifest as written (numbers as literals), as the compiler hashed it
        expected = revision(parse_json(files[MANIFEST]))
    except (AttributeError, KeyError, TypeError, ValueError):
        raise _refuse(".manifest is malformed: its revision cannot be computed") from None
    if manifest.get("revision") != expected:
        raise _refuse(f".manifest revision {manifest.get('revision')!r} is not the one its content gives "
                      f"({expected!r})")


def check_signature(files: Mapping[str, bytes], trust: BundleTrust) -> str | None:
    """The key id that signed the bundle, None for an unsigned bundle where none is required."""
    raw = files.get(SIGNATURES)
    if raw is None:
        if trust.signature_required:
            raise _refuse(f"the bundle is not signed (no {SIGNATURES}) and this environment requires a "
                          f"signature with key id {trust.key_id!r} (run `gatewayctl bundle sign`)")
        return None
    key = trust.key
    if key is None:
        why = "the specs configure no policy_bundle.signing" if trust.key_id is None else "its key is not set"
        raise _refuse(f"the bundle is signed but cannot be verified here ({why})")
    token = _token(raw)
    import jwt

    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise _refuse(f"{SIGNATURES}: the JWT is unreadable ({type(exc).__name__})") from None
    named = _key_id(header, unverified)
    if named != key.key_id:
        raise _refuse(f"the bundle is signed with key id {named!r}; this environment trusts {key.key_id!r}")
    if header.get("alg") != key.algorithm:
        raise _refuse(f"the bundle is signed with {header.get('alg')!r}; key {key.key_id!r} is {key.algorithm}")
    try:
        payload = jwt.decode(token, key.key, algorithms=[key.algorithm],
                             options={"verify_aud": False, "verify_iss": False})
    except jwt.InvalidSignatureError:
        raise _refuse(f"the signature does not verify with key {key.key_id!r}: signed with another key") from None
    except jwt.PyJWTError as exc:
        raise _refuse(f"the signature does not verify with key {key.key_id!r} ({type(exc).__name__}: {exc})") from None
    if payload.get("scope"):
        raise _refuse(f"the signature has scope {payload['scope']!r}; this gateway verifies no scope")
    _check_signed_files(files, payload.get("files"))
    return key.key_id


def _token(raw: bytes) -> str:
    if len(raw) > _MAX_SIGNATURES_BYTES:
        raise _refuse(f"{SIGNATURES} is larger than a signature can be")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _refuse(f"{SIGNATURES} is not valid JSON") from None
    signatures = doc.get("signatures") if isinstance(doc, dict) else None
    if isinstance(doc, dict) and doc.get("plugin"):
        raise _refuse(f"{SIGNATURES} names the signing plugin {doc['plugin']!r}; only OPA's default is verified")
    if not isinstance(signatures, list) or len(signatures) != 1 or not isinstance(signatures[0], str):
        raise _refuse(f'{SIGNATURES} must hold exactly one JWT: {{"signatures": ["<JWT>"]}}')
    return signatures[0]


def _key_id(header: Mapping[str, Any], payload: Mapping[str, Any]) -> str | None:
    kid, claim = header.get("kid"), payload.get("keyid")
    if kid and claim and kid != claim:
        raise _refuse(f"the signature names two key ids ({kid!r} in its header, {claim!r} in its claims)")
    named = kid or claim
    if not isinstance(named, str) or not named:
        raise _refuse("the signature names no key id (kid): a bundle signature must say which key made it")
    return named


def _check_signed_files(files: Mapping[str, bytes], listed: Any) -> None:
    """OPA's rule: every file of the bundle but the signatures is listed, with the hash OPA computes,
    and nothing else is."""
    if not isinstance(listed, list) or not listed:
        raise _refuse("the signature lists no files")
    signed: dict[str, Mapping[str, Any]] = {}
    for entry in listed:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not isinstance(entry.get("hash"), str):
            raise _refuse("the signature's file list is malformed (each entry needs name, hash and algorithm)")
        name = name.lstrip("/")
        if name in signed:
            raise _refuse(f"the signature lists {name} twice")
        signed[name] = entry
    present = {name for name in files if name != SIGNATURES}
    _same_names(present, set(signed), unlisted="{} is not covered by the signature",
                absent="the signature lists {}, which the bundle does not hold")
    for name in sorted(present):
        algorithm = signed[name].get("algorithm")
        if algorithm not in HASHES:
            raise _refuse(f"the signature hashes {name} with {algorithm!r}; accepted: {', '.join(HASHES)}")
        try:
            actual = opa_file_hash(name, files[name], algorithm)
            want = bytes.fromhex(signed[name]["hash"])
        except ValueError:
            raise _refuse(f"{name}: cannot compare it with its signed hash (not JSON, or a malformed hash)") from None
        if bytes.fromhex(actual) != want:
            raise _refuse(f"{name} does not match its signed hash: the file was changed after signing")


def _same_names(present: set[str], listed: set[str], *, unlisted: str, absent: str) -> None:
    """Refuse the first file the bundle holds but the list does not name, then the first the list
    names but the bundle does not hold (each message a format of the file's name)."""
    for names, message in ((present - listed, unlisted), (listed - present, absent)):
        if names:
            raise _refuse(message.format(min(names)))


def check_modes(manifest: Mapping[str, Any], modes: Mapping[str, str], trust: BundleTrust) -> None:
    """The modes data.json sets are the ones the manifest declares, and production runs none `off`
    unless the specs allow it."""
    declared = _mapping(_mapping(manifest.get("metadata")).get("policies"))
    for name in POLICIES:
        said = _mapping(declared.get(name)).get("mode")
        if said is not None and said != modes[name]:
            raise _refuse(f"data.json sets the {name} policy to {modes[name]!r}, .manifest says {said!r}")
    if trust.production and not trust.allow_off_in_production:
        off = [name for name in POLICIES if modes[name] == "off"]
        if off:
            raise _refuse(f"the {' and '.join(off)} policy is off, which production refuses "
                          "(the specs' policy_bundle.allow_off_in_production allows it)")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _short(digest: str) -> str:
    return digest[:19] + "…" if len(digest) > 19 else digest


def _refuse(message: str) -> BundleError:
    return BundleError(message)
