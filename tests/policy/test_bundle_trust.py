"""A bundle is loaded (at start and on every reload) only once proven: its files match the digests
of its .manifest and its revision is the one its content gives; where the trust settings say so,
it carries OPA's .signatures.json made with the named key; production runs no policy off unless
allowed. Every refusal is a one-line BundleError, and a refused reload keeps the old bundle."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from policy_helpers import chat, files, signed, tampered_mode, versions, with_mode, with_version, write_dir, write_tar

from compiler.emit.opa_bundle import seal
from runtime.policy import BundleError, BundleTrust, PolicyStore, TrustConfigError, bundle_trust
from runtime.policy._digests import opa_file_hash, opa_json_hash, parse_json, revision

SSN_PROMPT = chat("my SSN is 123-45-6789")
KEY_ID = "bundle-test-1"
HS_SECRET = "s" * 48


# --- keys ------------------------------------------------------------------------------------------


def _pem(key: Any) -> tuple[str, str]:
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def keypair(algorithm: str = "ES256", n: int = 0) -> tuple[str, str]:
    """(private PEM, public PEM) for algorithm; `n` gives another pair of the same kind."""
    return _keypair(algorithm, n)


@cache
def _keypair(algorithm: str, n: int) -> tuple[str, str]:
    if algorithm.startswith("HS"):
        return HS_SECRET, HS_SECRET
    if algorithm.startswith(("RS", "PS")):
        return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[algorithm]
    return _pem(ec.generate_private_key(curve))


def trust(algorithm: str = "ES256", *, required: bool = True, key_id: str = KEY_ID, public: str | None = None,
          production: bool = False, allow_off: bool = False) -> BundleTrust:
    """Trust settings as gateway.json's policy_bundle gives them, the key in an env variable."""
    settings = {
        "production": production,
        "allow_off_in_production": allow_off,
        "signature": {"key_id": key_id, "algorithm": algorithm, "public_key": None,
                      "public_key_env": "BUNDLE_KEY", "required": required},
    }
    return bundle_trust(settings, {"BUNDLE_KEY": public or keypair(algorithm)[1]}, production=False)


def load(tmp_path: Path, content: dict[str, bytes], how: BundleTrust | None = None) -> PolicyStore:
    return PolicyStore(write_tar(tmp_path / "bundle.tar.gz", content), trust=how)


def refused(tmp_path: Path, content: dict[str, bytes], how: BundleTrust | None = None) -> str:
    with pytest.raises(BundleError) as err:
        load(tmp_path, content, how)
    message = str(err.value)
    assert message and "\n" not in message
    return message


# --- the manifest: every file, its digest, the revision -----------------------------------------------


def test_the_manifest_lists_the_sha256_of_every_other_file() -> None:
    content = files("prod")
    manifest = json.loads(content[".manifest"])
    assert manifest["metadata"]["files"] == {
        name: "sha256:" + hashlib.sha256(data).hexdigest() for name, data in content.items() if name != ".manifest"
    }
    assert manifest["revision"] == revision(manifest)
    assert manifest["revision"].startswith(f"prompt-{versions()['prompt']}.output-{versions()['output']}.")


def test_the_finding_data_json_set_to_off_with_the_manifest_untouched_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, tampered_mode(files("prod"), "prompt", "off"))
    assert message.startswith("data.json does not match its digest in .manifest")


@pytest.mark.parametrize("name", sorted(n for n in files("prod") if n != ".manifest"))
def test_each_file_changed_after_the_compile_is_refused(tmp_path: Path, name: str) -> None:
    content = files("prod")
    message = refused(tmp_path, {**content, name: content[name] + b"\n"})
    assert message.startswith(f"{name} does not match its digest in .manifest")


def test_policy_wasm_is_listed_and_checked_like_any_file(tmp_path: Path) -> None:
    content = seal({**files("prod"), "policy.wasm": b"\0asm fake module"})
    assert "policy.wasm" in json.loads(content[".manifest"])["metadata"]["files"]
    message = refused(tmp_path, {**content, "policy.wasm": b"\0asm another module"})
    assert message.startswith("policy.wasm does not match its digest")


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda m: m.update(revision="prompt-2.0.0.output-2.0.0.0000000000000000"), "is not the one its content gives"),
        (lambda m: m["metadata"]["policies"]["prompt"].update(mode="off"), "is not the one its content gives"),
        (lambda m: m["metadata"]["files"].update({"data.json": "sha256:" + "0" * 64}), "data.json does not match"),
        (lambda m: m["metadata"].pop("files"), "lists no file digests"),
        (lambda m: m["metadata"]["files"].update({"rego/extra.rego": "sha256:" + "0" * 64}), "lists rego/extra.rego"),
        (lambda m: m["metadata"].update(policies={"prompt": "x"}), "malformed: its revision cannot be computed"),
        (lambda m: m.update(metadata=["files"]), "lists no file digests"),
    ],
    ids=["revision", "declared_mode", "a_digest", "no_digests", "a_file_more", "a_policy_a_string", "metadata_a_list"],
)
def test_a_manifest_changed_after_the_compile_is_refused(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], words: str
) -> None:
    content = files("prod")
    manifest = json.loads(content[".manifest"])
    edit(manifest)
    assert words in refused(tmp_path, {**content, ".manifest": json.dumps(manifest).encode()})


def test_a_file_not_in_the_manifest_is_refused(tmp_path: Path) -> None:
    content = {**files("prod"), "rego/gateway/extra.rego": b"package gateway.extra\n\nallow := true\n"}
    assert refused(tmp_path, content) == "rego/gateway/extra.rego is in the bundle but not listed in .manifest"


def test_a_file_missing_from_the_bundle_is_refused(tmp_path: Path) -> None:
    content = {k: v for k, v in files("prod").items() if k != "rego/lib/detect.rego"}
    assert refused(tmp_path, content) == ".manifest lists rego/lib/detect.rego, which the bundle does not hold"


def test_a_directory_bundle_is_checked_the_same_way(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"^data\.json does not match"):
        PolicyStore(write_dir(tmp_path / "dir", tampered_mode(files("prod"), "prompt", "off")))


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


@pytest.mark.parametrize(
    ("trick", "words"),
    [("twice", "data.json is in the archive twice"), ("link", "is a link or a special file"),
     ("outside", "is not a path inside a bundle"), ("nested_signatures", "would be read by OPA as the bundle's")],
)
def test_archive_tricks_opa_could_read_differently_are_refused(tmp_path: Path, trick: str, words: str) -> None:
    members = [(tarfile.TarInfo(name), data) for name, data in sorted(files("prod").items())]
    if trick == "twice":
        members.append((tarfile.TarInfo("data.json"), tampered_mode(files("prod"), "prompt", "off")["data.json"]))
    elif trick == "link":
        link = tarfile.TarInfo("rego/link.rego")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        members.append((link, b""))
    elif trick == "outside":
        members.append((tarfile.TarInfo("../escape.rego"), b"package gateway.x\n"))
    else:
        members.append((tarfile.TarInfo("rego/.signatures.json"), b'{"signatures": []}'))
    path = tmp_path / "bundle.tar.gz"
    path.write_bytes(_tar(members))
    with pytest.raises(BundleError, match=words):
        PolicyStore(path)


def test_the_revision_changes_whenever_any_file_changes() -> None:
    content = files("prod")
    base = json.loads(content[".manifest"])["revision"]
    seen = {base}
    for name in [n for n in content if n != ".manifest"]:
        changed = seal({**content, name: content[name] + b" "})
        seen.add(json.loads(changed[".manifest"])["revision"])
    seen.add(json.loads(seal({**content, "policy.wasm": b"\0asm"})[".manifest"])["revision"])
    assert len(seen) == len(content) + 1  # every file (the manifest aside), policy.wasm, and the original


# --- OPA's file hashes ---------------------------------------------------------------------------------


def test_json_files_are_hashed_as_opa_does_whitespace_and_key_order_aside() -> None:
    # bundle/hash.go: keys sorted, no whitespace, numbers as written, Go's string escaping.
    assert opa_file_hash("data.json", b'{ "b": 1.0,\n "a": ["x", true, null] }') == hashlib.sha256(
        b'{"a":["x",true,null],"b":1.0}').hexdigest()
    assert opa_file_hash("data.json", b'{"b":1.0}') != opa_file_hash("data.json", b'{"b":1}')
    assert opa_json_hash(parse_json(b'{"t": "a\\u2028<b>&\\n"}')) == hashlib.sha256(
        b'{"t":"a\\u2028<b>&\\n"}').hexdigest()
    assert opa_file_hash("rego/p.rego", b"package p\n") == hashlib.sha256(b"package p\n").hexdigest()
    assert opa_file_hash(".manifest", b'{"revision": "r"}') == hashlib.sha256(b'{"revision":"r"}').hexdigest()


# What `opa sign` (v1.20.2) wrote as the hash of this data.json: numbers as written, Go's escaping
# (U+2028/9 escaped, <>& not, a lone surrogate as U+FFFD), keys sorted.
OPA_SIGNED_DATA_JSON = (
    rb'{"z": [1.0, 1e3, -0, 12345678901234567890], "s": "a\u2028b\u2029c<>&\u0001\b\f\t\u007f\u00e9'
    rb'\ud83d\ude00 \"q\" \\", "lone": "\ud800x", "e": {}, "n": null, "t": true}'
)
OPA_SIGNED_HASH = "edc919ece5bcd13b2f8cba1f4c11204d3987cbfe65b7e5c2c3d01d2551ae2f20"


def test_json_hashing_matches_what_opa_sign_computed() -> None:
    assert opa_file_hash("data.json", OPA_SIGNED_DATA_JSON) == OPA_SIGNED_HASH


# --- signatures ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["ES256", "ES384", "RS256", "PS256", "HS256"])
def test_a_bundle_signed_with_the_named_key_loads_and_says_who_signed(tmp_path: Path, algorithm: str) -> None:
    content = signed(files("prod"), keypair(algorithm)[0], KEY_ID, algorithm)
    store = load(tmp_path, content, trust(algorithm))
    status = store.status()
    assert status["signed_by"] == KEY_ID
    assert status["revision"] == json.loads(files("prod")[".manifest"])["revision"]  # signing keeps the revision
    assert store.evaluate("prompt", SSN_PROMPT)["allow"] is False


def test_an_unsigned_bundle_is_refused_where_a_signature_is_required(tmp_path: Path) -> None:
    message = refused(tmp_path, files("prod"), trust())
    assert message.startswith("the bundle is not signed (no .signatures.json)")
    assert KEY_ID in message and "gatewayctl bundle sign" in message


def test_an_unsigned_bundle_loads_where_none_is_required_but_a_signed_one_is_still_checked(tmp_path: Path) -> None:
    assert load(tmp_path, files("prod"), trust(required=False)).status()["signed_by"] is None
    other = signed(files("prod"), keypair("ES256", 1)[0], KEY_ID)
    assert "does not verify" in refused(tmp_path, other, trust(required=False))


def test_a_signature_by_another_key_is_refused(tmp_path: Path) -> None:
    content = signed(files("prod"), keypair("ES256", 1)[0], KEY_ID)
    assert refused(tmp_path, content, trust()) == (
        f"the signature does not verify with key {KEY_ID!r}: signed with another key")


def test_a_signature_naming_another_key_id_is_refused(tmp_path: Path) -> None:
    content = signed(files("prod"), keypair()[0], "someone-else")
    assert refused(tmp_path, content, trust()) == (
        f"the bundle is signed with key id 'someone-else'; this environment trusts {KEY_ID!r}")


def test_a_signature_naming_no_key_id_is_refused(tmp_path: Path) -> None:
    body = {k: v for k, v in files("prod").items()}
    listed = [{"name": n, "hash": opa_file_hash(n, v), "algorithm": "SHA-256"} for n, v in sorted(body.items())]
    content = signed(body, keypair()[0], "", header_kid="", payload={"files": listed})
    assert "names no key id" in refused(tmp_path, content, trust())


def test_a_file_changed_after_signing_is_refused_even_with_its_manifest_resealed(tmp_path: Path) -> None:
    good = signed(files("prod"), keypair()[0], KEY_ID)
    # Rewritten on disk with the compiler's own tools, digests and revision consistent again:
    # only the signature can tell.
    forged = {**with_mode(good, "prompt", "off"), ".signatures.json": good[".signatures.json"]}
    message = refused(tmp_path, forged, trust())
    assert message in {".manifest does not match its signed hash: the file was changed after signing",
                       "data.json does not match its signed hash: the file was changed after signing"}


@pytest.mark.parametrize("change", ["drop_one", "add_one"])
def test_the_signature_must_cover_exactly_the_files_of_the_bundle(tmp_path: Path, change: str) -> None:
    body = files("prod")
    listed = [{"name": n, "hash": opa_file_hash(n, v), "algorithm": "SHA-256"} for n, v in sorted(body.items())]
    if change == "drop_one":
        listed = [f for f in listed if f["name"] != "rego/lib/detect.rego"]
        words = "rego/lib/detect.rego is not covered by the signature"
    else:
        listed.append({"name": "rego/other.rego", "hash": "00" * 32, "algorithm": "SHA-256"})
        words = "the signature lists rego/other.rego, which the bundle does not hold"
    content = signed(body, keypair()[0], KEY_ID, payload={"files": listed, "keyid": KEY_ID})
    assert refused(tmp_path, content, trust()) == words


def test_a_weak_file_hash_is_refused(tmp_path: Path) -> None:
    body = files("prod")
    listed = [{"name": n, "hash": hashlib.md5(v).hexdigest(), "algorithm": "MD5"} for n, v in sorted(body.items())]
    content = signed(body, keypair()[0], KEY_ID, payload={"files": listed, "keyid": KEY_ID})
    assert "with 'MD5'" in refused(tmp_path, content, trust())


def test_a_signature_made_with_another_algorithm_is_refused(tmp_path: Path) -> None:
    content = signed(files("prod"), HS_SECRET, KEY_ID, "HS256")
    assert refused(tmp_path, content, trust("ES256")) == f"the bundle is signed with 'HS256'; key {KEY_ID!r} is ES256"


@pytest.mark.parametrize(
    ("signatures", "words"),
    [(b"not json", "is not valid JSON"), (b'{"signatures": []}', "exactly one JWT"),
     (b'{"signatures": ["a", "b"]}', "exactly one JWT"), (b'{"signatures": ["not.a.jwt"]}', "JWT is unreadable"),
     (b'{"plugin": "x", "signatures": ["a"]}', "signing plugin 'x'")],
)
def test_a_malformed_signatures_file_is_refused(tmp_path: Path, signatures: bytes, words: str) -> None:
    assert words in refused(tmp_path, {**files("prod"), ".signatures.json": signatures}, trust())


def test_a_signed_bundle_is_refused_where_no_key_is_configured(tmp_path: Path) -> None:
    content = signed(files("prod"), keypair()[0], KEY_ID)
    assert "the bundle is signed but cannot be verified here" in refused(tmp_path, content, BundleTrust())


# --- production and mode off ----------------------------------------------------------------------------


def test_production_refuses_a_policy_off_unless_the_specs_allow_it(tmp_path: Path) -> None:
    off = with_mode(files("prod"), "output", "off")
    assert refused(tmp_path, off, BundleTrust(production=True)) == (
        "the output policy is off, which production refuses (the specs' policy_bundle.allow_off_in_production "
        "allows it)")
    assert load(tmp_path, off, BundleTrust(production=True, allow_off_in_production=True)).status()["modes"] == {
        "prompt": "enforce", "output": "off"}
    assert load(tmp_path, off, BundleTrust()).status()["modes"]["output"] == "off"  # not production


def test_data_json_and_the_manifest_must_agree_on_the_modes(tmp_path: Path) -> None:
    content = files("prod")
    data = json.loads(content["data.json"])
    data["gateway"]["config"]["prompt"]["mode"] = "monitor"
    message = refused(tmp_path, seal({**content, "data.json": json.dumps(data).encode()}))
    assert message == "data.json sets the prompt policy to 'monitor', .manifest says 'enforce'"


# --- reloads ------------------------------------------------------------------------------------------------


def test_a_refused_reload_keeps_the_old_bundle_and_reports_its_revision(tmp_path: Path) -> None:
    how = trust(production=True)
    path = write_tar(tmp_path / "bundle.tar.gz", signed(files("prod"), keypair()[0], KEY_ID))
    store = PolicyStore(path, trust=how)
    before = store.status()["revision"]
    attempts = [
        tampered_mode(signed(files("prod"), keypair()[0], KEY_ID), "prompt", "off"),  # the finding
        with_version(files("prod"), "prompt", "9.0.0"),  # a new version, unsigned
        signed(with_version(files("prod"), "prompt", "9.0.0"), keypair("ES256", 1)[0], KEY_ID),  # another key
        signed(with_mode(files("prod"), "prompt", "off"), keypair()[0], KEY_ID),  # signed, but off in production
    ]
    for content in attempts:
        write_tar(path, content)
        assert store.reload_if_changed() is False
        status = store.status()
        assert status["revision"] == before
        assert status["last_error"]
        assert store.evaluate("prompt", SSN_PROMPT)["allow"] is False  # still the old, enforcing bundle
    write_tar(path, signed(with_version(files("prod"), "prompt", "9.0.0"), keypair()[0], KEY_ID))
    assert store.reload_if_changed() is True
    status = store.status()
    assert (status["versions"]["prompt"], status["last_error"], status["signed_by"]) == ("9.0.0", None, KEY_ID)
    assert status["revision"] != before


# --- the trust settings ---------------------------------------------------------------------------------------


def _signature(**overrides: Any) -> dict[str, Any]:
    return {"signature": {"key_id": KEY_ID, "algorithm": "ES256", "public_key": None, "public_key_env": "K",
                          "required": True, **overrides}}


@pytest.mark.parametrize(
    ("settings", "environ", "words"),
    [
        (_signature(), {}, "policy bundles must be signed (key id 'bundle-test-1') but K is not set"),
        (_signature(), {"K": keypair()[0]}, "K holds a private key: give the gateway the public key only"),
        (_signature(), {"K": "hello"}, "K is not a PEM public key"),
        (_signature(), {"K": keypair("ES384")[1]}, "K is not an EC key on secp256r1, which ES256 needs"),
        (_signature(algorithm="RS256"), {"K": keypair()[1]}, "K is not an RSA key, which RS256 needs"),
        (_signature(algorithm="HS256"), {"K": "short"}, "K: an HS256 secret needs at least 32 bytes"),
        (_signature(key_id=""), {"K": keypair()[1]}, "key_id is missing"),
        (_signature(algorithm="none"), {"K": keypair()[1]}, "algorithm 'none' is not one of"),
    ],
)
def test_unusable_trust_settings_are_a_one_line_config_error(
    settings: dict[str, Any], environ: dict[str, str], words: str
) -> None:
    with pytest.raises(TrustConfigError) as err:
        bundle_trust(settings, environ, production=False)
    assert words in str(err.value)


def test_the_key_of_an_environment_that_does_not_require_signatures_may_be_absent() -> None:
    how = bundle_trust(_signature(required=False), {}, production=False)
    assert (how.signature_required, how.key, how.key_id) == (False, None, KEY_ID)


def test_production_comes_from_the_settings_or_the_caller_whichever_is_stricter() -> None:
    assert bundle_trust({"production": True}, {}, production=False).production is True
    assert bundle_trust({"production": False}, {}, production=True).production is True
    assert bundle_trust(None, {}, production=False) == BundleTrust()
