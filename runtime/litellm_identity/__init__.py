"""LiteLLM's `custom_auth` for the gateway's clients: every request runs in LiteLLM as the client
key that made it, so LiteLLM's own checks (the key's and its team's models, budget, rpm/tpm) and
its accounting (spend per key and team: callbacks, prometheus labels, x-litellm-* headers) work
behind the gateway.

Two ways in, both from the compiled table `identities.json` beside the config:
- the gateway: it presents LiteLLM's master key (its service credential) and names the client's
  key in IDENTITY_HEADER; only the master key may name an identity, so a client cannot;
- a client calling LiteLLM directly (an environment without the gateway) with its own key.
The master key alone is the proxy admin, as without this hook. Anything else is a 401.

LiteLLM keeps key spend in its database (prisma + Postgres); without one, _ledger.SpendLedger
counts LiteLLM's own response_cost per key and team in this process, per budget window.
Loaded by LiteLLM: general_settings.custom_auth = runtime.litellm_identity.custom_auth.
"""

from __future__ import annotations

from runtime.litellm_identity._auth import IDENTITY_HEADER, custom_auth

__all__ = ["IDENTITY_HEADER", "custom_auth"]
