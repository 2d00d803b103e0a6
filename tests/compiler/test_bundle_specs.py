"""The `policy_bundle` section: what it compiles into (gateway.json, the guardrails, Helm, compose)
and the mistakes it refuses at their line (a private key committed, a policy off in production)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML
from signing import es256_keypair

from compiler.cli import main
from compiler.pipeline import compile_project

BUNDLE_SPEC = """\
policy_bundle:
  signing:
    key_id: release-7
    algorithm: ES256
{key}
    required: {{prod: true{more}}}
{extra}"""


def write_bundle_spec(project: Path, key: str = "    public_key_env: POLICY_BUNDLE_PUBLIC_KEY", more: str = "",
                      extra: str = "") -> None:
    (project / "specs" / "bundle.yaml").write_text(BUNDLE_SPEC.format(key=key, more=more, extra=extra))


def set_mode(project: Path, env: str, policy: str, mode: str) -> None:
    yaml = YAML()
    path = project / "specs" / "policies.yaml"
    data = yaml.load(path.read_text())
    data["policies"][policy]["mode"][env] = mode
    with path.open("w") as f:
        yaml.dump(data, f)


def validate(project: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["-C", str(project), "validate"])
    return result.exit_code, result.output


def compiled(project: Path, path: str) -> bytes:
    return compile_project(project, project / "generated").files[path]


def public_pem() -> str:
    return es256_keypair()[1]


def private_pem() -> str:
    return es256_keypair()[0]


def test_the_example_specs_require_signed_bundles_in_prod_only() -> None:
    root = Path(__file__).resolve().parents[2]
    for env, required in (("dev", False), ("staging", False), ("prod", True)):
        settings = json.loads((root / "generated" / env / "gateway.json").read_text())["policy_bundle"]
        assert settings["signature"] == {"key_id": "policy-bundle-prod-1", "algorithm": "ES256", "public_key": None,
                                         "public_key_env": "POLICY_BUNDLE_PUBLIC_KEY", "required": required}
        assert settings["production"] is (env == "prod")
        assert settings["allow_off_in_production"] is False


def test_a_committed_public_key_is_compiled_into_gateway_json_and_the_opa_service(project: Path) -> None:
    pem = public_pem()
    (project / "keys").mkdir()
    (project / "keys" / "bundle.pub.pem").write_text(pem)
    write_bundle_spec(project, key="    public_key: keys/bundle.pub.pem")
    result = compile_project(project, project / "generated")
    signature = json.loads(result.files["prod/gateway.json"])["policy_bundle"]["signature"]
    assert (signature["public_key"], signature["public_key_env"], signature["key_id"]) == (pem, None, "release-7")
    compose = YAML(typ="safe").load(result.files["prod/docker-compose.yml"])
    command = compose["services"]["opa"]["command"]
    assert command[command.index("--verification-key") + 1] == pem.strip() + "\n"
    values = YAML(typ="safe").load(result.files["prod/helm/values.yaml"])
    assert "POLICY_BUNDLE_PUBLIC_KEY" not in values["gateway"]["secretEnv"]  # nothing to give the pod


def test_the_guardrails_get_the_same_trust_settings_as_the_gateway(project: Path) -> None:
    result = compile_project(project, project / "generated")
    config = YAML(typ="safe").load(result.files["dev/litellm/config.yaml"])
    gateway = json.loads(result.files["dev/gateway.json"])["policy_bundle"]
    assert config["guardrails"]
    for guardrail in config["guardrails"]:
        assert guardrail["litellm_params"]["bundle_trust"] == gateway


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (private_pem(), "keys/k.pem holds a private key: give the gateway the public key only"),
        ("hello\n", "keys/k.pem is not a PEM public key"),
        (None, "keys/k.pem does not exist"),
    ],
    ids=["private_key", "not_pem", "missing"],
)
def test_an_unusable_public_key_file_is_an_error_at_its_line(project: Path, content: str | None, words: str) -> None:
    if content is not None:
        (project / "keys").mkdir()
        (project / "keys" / "k.pem").write_text(content)
    write_bundle_spec(project, key="    public_key: keys/k.pem")
    code, output = validate(project)
    assert code == 1
    assert f"specs/bundle.yaml:5:17: error: policy_bundle.signing.public_key: {words}" in output


def test_required_names_known_environments(project: Path) -> None:
    write_bundle_spec(project, more=", qa: true")
    code, output = validate(project)
    assert code == 1
    assert 'specs/bundle.yaml:6:28: error: policy_bundle.signing.required names unknown environment "qa"' in output


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("    public_key: k.pem\n    public_key_env: K", "give exactly one of public_key"),
        ("", "give exactly one of public_key"),
    ],
)
def test_exactly_one_key_source(project: Path, key: str, words: str) -> None:
    write_bundle_spec(project, key=key)
    code, output = validate(project)
    assert code == 1 and words in output


def test_an_hmac_secret_is_never_committed(project: Path) -> None:
    (project / "specs" / "bundle.yaml").write_text(
        "policy_bundle:\n  signing: {key_id: k, algorithm: HS256, public_key: keys/s.pem}\n")
    code, output = validate(project)
    assert code == 1 and "HS256 verifies with the signing secret itself" in output


def test_a_policy_off_in_production_is_an_error_unless_the_specs_allow_it(project: Path) -> None:
    set_mode(project, "prod", "output", "off")
    code, output = validate(project)
    assert code == 1
    assert 'error: policy "output" is off in production environment "prod"' in output
    assert "policy_bundle.allow_off_in_production: true" in output
    write_bundle_spec(project, extra="  allow_off_in_production: true\n")
    code, output = validate(project)
    assert code == 0, output
    assert "warning: policy \"output\" is off in production environment \"prod\" (allowed by" in output
    settings = json.loads(compiled(project, "prod/gateway.json"))["policy_bundle"]
    assert settings["allow_off_in_production"] is True


def test_signing_configured_but_not_required_in_production_draws_a_warning(project: Path) -> None:
    (project / "specs" / "bundle.yaml").write_text(
        "policy_bundle:\n  signing: {key_id: k, public_key_env: K}\n")
    code, output = validate(project)
    assert code == 0, output
    assert 'warning: production environment "prod" loads policy bundles without a signature' in output
