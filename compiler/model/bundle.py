"""The `policy_bundle` section: what a policy bundle must prove before the gateway (or the in-proxy
guardrail) loads it. Every bundle is checked against the file digests of its manifest; this section
adds OPA bundle signing with a named key, and whether production may run a policy `off`.

    policy_bundle:
      signing:
        key_id: policy-bundle-2025-1          # the JWT's kid; the gateway trusts only this one
        algorithm: ES256                      # OPA's --signing-alg names
        public_key_env: POLICY_BUNDLE_PUBLIC_KEY   # or public_key: keys/policy-bundle.pub.pem
        required: {prod: true}                # environments that refuse an unsigned bundle
      allow_off_in_production: false

Signing keys are secrets and never appear here: `gatewayctl bundle sign` reads the private key from
an environment variable in the release step (docs/deploy.md).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from compiler.model._base import EnvVarName, Name, StrictModel

SigningAlgorithm = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
                           "HS256", "HS384", "HS512"]
KeyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$", max_length=128)]
KeyPath = Annotated[str, StringConstraints(pattern=r"^[^/\s][^\s]*\.pem$")]


class BundleSigning(StrictModel):
    """OPA bundle signing (`.signatures.json`): the key the gateway verifies bundles with."""

    key_id: KeyId = Field(description="the key id the signature must name (its JWT `kid`); change it with the key")
    algorithm: SigningAlgorithm = Field("RS256", description="JWT algorithm, as OPA's --signing-alg (default RS256)")
    public_key: KeyPath | None = Field(
        None, description="a committed PEM public key, relative to the project root; compiled into gateway.json")
    public_key_env: EnvVarName | None = Field(
        None, description="or: the environment variable the gateway reads the PEM public key (HS*: the shared "
        "secret) from at start")
    required: dict[Name, bool] = Field(
        default_factory=dict,
        description="environments that refuse an unsigned bundle (others verify a signature when there is one)")

    @model_validator(mode="after")
    def _one_key_source(self) -> BundleSigning:
        if (self.public_key is None) == (self.public_key_env is None):
            raise ValueError("give exactly one of public_key (a committed .pem) and public_key_env")
        if self.algorithm.startswith("HS") and self.public_key is not None:
            raise ValueError(f"{self.algorithm} verifies with the signing secret itself, which is never "
                             "committed: use public_key_env")
        return self


class PolicyBundle(StrictModel):
    signing: BundleSigning | None = Field(
        None, description="OPA bundle signing; without it bundles are checked against their manifest only")
    allow_off_in_production: bool = Field(
        False, description="let a production environment (sea_env: production) run a policy whose mode is off; "
        "the gateway refuses such a bundle otherwise, at start and on reload")
