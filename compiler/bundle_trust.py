"""The rules of the `policy_bundle` section (compiler/model/bundle.py) that a schema cannot say, and
the committed public key it may name.

- `signing.required` names environments that exist;
- `signing.public_key` is a readable PEM *public* key inside the project that fits the algorithm
  (a private key there is an error: signing keys never go into specs/ or generated/);
- a production environment (sea_env: production) runs no policy `off` unless
  `allow_off_in_production` says so, and draws a warning when the specs configure signing but do
  not require it there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from compiler.errors import SpecError

if TYPE_CHECKING:
    from compiler.validate import EnvSpec

__all__ = ["KeyProblem", "check", "public_key_text"]


class KeyProblem(Exception):
    """The public key file cannot be used; the message says why, in one line."""


def public_key_text(root: Path, rel: str, algorithm: str) -> str:
    """The PEM text of the committed public key at `rel`, checked as the gateway will check it."""
    from runtime.policy import TrustConfigError, load_verification_key

    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise KeyProblem(f"{rel} is outside the project")
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyProblem(f"{rel} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyProblem(f"{rel} cannot be read as PEM text ({type(exc).__name__})") from None
    try:
        load_verification_key(text, algorithm, rel)
    except TrustConfigError as exc:
        raise KeyProblem(str(exc)) from None
    return text.strip() + "\n"


def check(root: Path, envs: list[EnvSpec]) -> Iterator[SpecError]:
    for env in envs:
        yield from _env_rules(root, env)


def _env_rules(root: Path, env: EnvSpec) -> Iterator[SpecError]:
    doc, smap = env.document, env.source_map
    section = doc.policy_bundle
    signing = section.signing
    base = ("policy_bundle", "signing")
    if signing is not None:
        for name in signing.required:
            if name not in doc.environments:
                yield SpecError(smap.locate((*base, "required", name), key=True),
                                f'policy_bundle.signing.required names unknown environment "{name}"',
                                "known: " + ", ".join(sorted(doc.environments)))
        if signing.public_key is not None:
            try:
                public_key_text(root, signing.public_key, signing.algorithm)
            except KeyProblem as exc:
                yield SpecError(smap.locate((*base, "public_key")), f"policy_bundle.signing.public_key: {exc}",
                                "commit the PEM public key (-----BEGIN PUBLIC KEY-----) of the signing key; "
                                "the private key stays in the release pipeline's secrets")
    spec = doc.environments[env.name]
    if spec.sea_env != "production":
        return
    for pname in ("prompt", "output"):
        if getattr(doc.policies, pname).mode.get(env.name) != "off":
            continue
        where = smap.locate(("policies", pname, "mode", env.name))
        if section.allow_off_in_production:
            yield SpecError(where, f'policy "{pname}" is off in production environment "{env.name}" '
                            "(allowed by policy_bundle.allow_off_in_production)",
                            "use enforce (or monitor while rolling out a new version)", "warning")
        else:
            yield SpecError(where, f'policy "{pname}" is off in production environment "{env.name}"',
                            "use enforce (or monitor while rolling out a new version); the gateway refuses "
                            "such a bundle unless policy_bundle.allow_off_in_production: true")
    if signing is not None and not signing.required.get(env.name, False):
        yield SpecError(smap.locate((*base, "required")),
                        f'production environment "{env.name}" loads policy bundles without a signature: a bundle '
                        "rewritten on disk (digests and all) would be loaded",
                        f"set policy_bundle.signing.required: {{{env.name}: true}} and sign in the release step",
                        "warning")
