"""`gatewayctl bundle sign` adds OPA's .signatures.json with the key the specs name, and `gatewayctl
bundle verify` checks a bundle as the gateway will. With an opa binary (`OPA_BINARY`, else `opa` on
PATH), OPA itself accepts what we sign and we accept what OPA signs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from policy_helpers import REPO, chat, tampered_mode, with_mode, write_dir, write_tar
from signing import es256_keypair

from compiler.cli import main
from compiler.policy_tests import opa_binary
from runtime.policy import BundleError, PolicyStore, bundle_trust
from runtime.policy._bundle import read_bundle_files

ENV = "prod"
KEY_ID = "policy-bundle-prod-1"  # specs/bundle.yaml




@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return es256_keypair()


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    """A copy of the repository's compiled generated/ (the bundles unsigned, as committed)."""
    out = tmp_path / "generated"
    shutil.copytree(REPO / "generated", out)
    return out


def gatewayctl(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(REPO), *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def sign(generated: Path, private: str, *extra: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    return gatewayctl("bundle", "sign", "--env", ENV, "--generated", str(generated), *extra,
                      env={"POLICY_BUNDLE_SIGNING_KEY": private, "POLICY_BUNDLE_PUBLIC_KEY": "", **(env or {})})


def prod_store(generated: Path, public: str) -> PolicyStore:
    settings = json.loads((generated / ENV / "gateway.json").read_text())["policy_bundle"]
    trust = bundle_trust(settings, {"POLICY_BUNDLE_PUBLIC_KEY": public}, production=True)
    return PolicyStore(generated / ENV / "opa" / "bundle.tar.gz", trust=trust)


def test_sign_adds_opa_signatures_and_the_gateway_loads_the_result(generated: Path, keys: tuple[str, str]) -> None:
    private, public = keys
    bundle = generated / ENV / "opa" / "bundle.tar.gz"
    before = json.loads(read_bundle_files(bundle)[0][".manifest"])["revision"]
    with pytest.raises(BundleError, match="is not signed"):
        prod_store(generated, public)  # prod requires a signature (specs/bundle.yaml)
    code, out, err = sign(generated, private)
    assert code == 0, err
    assert f"revision {before}, key id {KEY_ID} (ES256)" in out
    files, _ = read_bundle_files(bundle)
    signatures = json.loads(files[".signatures.json"])
    assert list(signatures) == ["signatures"] and len(signatures["signatures"]) == 1
    store = prod_store(generated, public)
    assert (store.status()["signed_by"], store.status()["revision"]) == (KEY_ID, before)
    assert store.evaluate("prompt", chat("my SSN is 123-45-6789"))["allow"] is False
    code, out, _ = gatewayctl("bundle", "verify", "--env", ENV, "--generated", str(generated),
                              env={"POLICY_BUNDLE_PUBLIC_KEY": public})
    assert code == 0 and f"signed with key id {KEY_ID}" in out and before in out


def test_the_jwt_is_opas_shape_with_the_key_id_in_header_and_claims(generated: Path, keys: tuple[str, str]) -> None:
    import jwt

    assert sign(generated, keys[0])[0] == 0
    files, _ = read_bundle_files(generated / ENV / "opa" / "bundle.tar.gz")
    token = json.loads(files[".signatures.json"])["signatures"][0]
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, keys[1], algorithms=["ES256"])
    assert (header["alg"], header["kid"], payload["keyid"]) == ("ES256", KEY_ID, KEY_ID)
    assert sorted(f["name"] for f in payload["files"]) == sorted(n for n in files if n != ".signatures.json")
    assert {f["algorithm"] for f in payload["files"]} == {"SHA-256"}


def test_signing_twice_replaces_the_signature_and_out_leaves_the_bundle_alone(
    generated: Path, keys: tuple[str, str], tmp_path: Path
) -> None:
    bundle = generated / ENV / "opa" / "bundle.tar.gz"
    original = bundle.read_bytes()
    out = tmp_path / "signed.tar.gz"
    assert sign(generated, keys[0], "--out", str(out))[0] == 0
    assert bundle.read_bytes() == original
    assert sign(generated, keys[0], "--bundle", str(out), "--out", str(out))[0] == 0
    files, _ = read_bundle_files(out)
    assert len(json.loads(files[".signatures.json"])["signatures"]) == 1


def test_a_key_id_other_than_the_specs_is_refused(generated: Path, keys: tuple[str, str]) -> None:
    code, _, err = sign(generated, keys[0], "--key-id", "rotated-2")
    assert code == 1
    assert f"--key-id rotated-2 is not the key id the specs name ({KEY_ID})" in err


def test_a_bundle_that_does_not_match_its_manifest_is_not_signed(generated: Path, keys: tuple[str, str]) -> None:
    bundle = generated / ENV / "opa" / "bundle.tar.gz"
    directory = write_dir(generated.parent / "tampered", tampered_mode(read_bundle_files(bundle)[0], "prompt", "off"))
    code, _, err = sign(generated, keys[0], "--bundle", str(directory), "--out", str(generated.parent / "x.tar.gz"))
    assert code == 1
    assert "data.json does not match its digest in .manifest" in err and "refusing to sign it" in err


def test_a_production_bundle_with_a_policy_off_is_not_signed(generated: Path, keys: tuple[str, str]) -> None:
    bundle = generated / ENV / "opa" / "bundle.tar.gz"
    off = write_tar(generated.parent / "off.tar.gz", with_mode(read_bundle_files(bundle)[0], "output", "off"))
    code, _, err = sign(generated, keys[0], "--bundle", str(off))
    assert code == 1 and "the output policy is off, which production refuses" in err


def test_a_signing_key_that_is_not_the_pair_of_the_verification_key_is_refused(
    generated: Path, keys: tuple[str, str]
) -> None:
    code, _, err = sign(generated, keys[0], env={"POLICY_BUNDLE_PUBLIC_KEY": es256_keypair()[1]})
    assert code == 1
    assert "does not verify with the verification key in POLICY_BUNDLE_PUBLIC_KEY" in err


def test_a_missing_or_unusable_signing_key_is_a_one_line_error(generated: Path, keys: tuple[str, str]) -> None:
    code, _, err = gatewayctl("bundle", "sign", "--env", ENV, "--generated", str(generated),
                              env={"POLICY_BUNDLE_SIGNING_KEY": ""})
    assert code == 2 and "POLICY_BUNDLE_SIGNING_KEY is not set" in err
    code, _, err = sign(generated, keys[1])  # the public key where the private one belongs
    assert code == 1 and "is not an unencrypted PEM private key" in err


def test_an_environment_without_signing_in_its_gateway_json_cannot_be_signed(
    generated: Path, keys: tuple[str, str]
) -> None:
    settings = json.loads((generated / ENV / "gateway.json").read_text())
    settings["policy_bundle"]["signature"] = None
    (generated / ENV / "gateway.json").write_text(json.dumps(settings))
    code, _, err = sign(generated, keys[0])
    assert code == 1 and "configure no policy_bundle.signing" in err


def test_verify_reports_why_a_bundle_would_be_refused(generated: Path, keys: tuple[str, str]) -> None:
    code, _, err = gatewayctl("bundle", "verify", "--env", ENV, "--generated", str(generated),
                              env={"POLICY_BUNDLE_PUBLIC_KEY": keys[1]})
    assert code == 1 and "the bundle is not signed" in err
    code, out, _ = gatewayctl("bundle", "verify", "--env", "staging", "--generated", str(generated))
    assert code == 0 and "unsigned, prompt enforce, output enforce" in out


# --- OPA itself ------------------------------------------------------------------------------------


needs_opa = pytest.mark.skipif(
    opa_binary() is None,
    reason="no OPA CLI: scripts/setup installs it where Go is present (.tools/bin/opa); else set OPA_BINARY",
)


def run_opa(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    opa = opa_binary()
    assert opa is not None
    return subprocess.run([opa, *args], capture_output=True, text=True, check=False, cwd=cwd)


@needs_opa
def test_opa_accepts_the_bundle_gatewayctl_signed_and_refuses_it_tampered(
    generated: Path, keys: tuple[str, str], tmp_path: Path
) -> None:
    assert sign(generated, keys[0])[0] == 0
    (tmp_path / "pub.pem").write_text(keys[1])
    bundle = generated / ENV / "opa" / "bundle.tar.gz"
    verify = ["--verification-key", str(tmp_path / "pub.pem"), "--verification-key-id", KEY_ID,
              "--signing-alg", "ES256"]
    ok = run_opa("build", "-b", str(bundle), *verify, "-o", str(tmp_path / "out.tar.gz"), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    files, _ = read_bundle_files(bundle)
    forged = write_tar(tmp_path / "forged.tar.gz", tampered_mode(files, "prompt", "off"))
    bad = run_opa("build", "-b", str(forged), *verify, "-o", str(tmp_path / "bad.tar.gz"), cwd=tmp_path)
    assert bad.returncode != 0
    assert "data.json: digest mismatch" in bad.stdout + bad.stderr
    other = tmp_path / "other.pem"
    other.write_text(es256_keypair()[1])
    wrong = run_opa("build", "-b", str(bundle), "--verification-key", str(other), "--verification-key-id", KEY_ID,
                    "--signing-alg", "ES256", "-o", str(tmp_path / "wrong.tar.gz"), cwd=tmp_path)
    assert wrong.returncode != 0 and "failed to verify JWT signature" in wrong.stdout + wrong.stderr


@needs_opa
def test_we_accept_a_bundle_opa_signed_with_the_key_id_claim(
    generated: Path, keys: tuple[str, str], tmp_path: Path
) -> None:
    files, _ = read_bundle_files(generated / ENV / "opa" / "bundle.tar.gz")
    directory = write_dir(tmp_path / "bundle", files)
    (tmp_path / "key.pem").write_text(keys[0])
    (tmp_path / "claims.json").write_text(json.dumps({"keyid": KEY_ID}))
    # Run from inside the bundle: opa sign names each file by the path it was given.
    signed = run_opa("sign", "--bundle", ".", "--signing-key", str(tmp_path / "key.pem"),
                     "--signing-alg", "ES256", "--claims-file", str(tmp_path / "claims.json"), "-o", ".",
                     cwd=directory)
    assert signed.returncode == 0, signed.stderr
    assert (directory / ".signatures.json").is_file()
    settings = json.loads((generated / ENV / "gateway.json").read_text())["policy_bundle"]
    trust = bundle_trust(settings, {"POLICY_BUNDLE_PUBLIC_KEY": keys[1]}, production=True)
    assert PolicyStore(directory, trust=trust).status()["signed_by"] == KEY_ID
