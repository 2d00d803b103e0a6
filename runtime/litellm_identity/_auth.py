"""The custom_auth function and the identity table it reads (see the package docstring)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import litellm
from litellm.constants import LITELLM_PROXY_MASTER_KEY_ALIAS
from litellm.proxy import proxy_server
from litellm.proxy._types import LitellmUserRoles, ProxyErrorTypes, ProxyException, UserAPIKeyAuth

from runtime.identity_header import IDENTITY_HEADER
from runtime.litellm_identity._ledger import SpendLedger, window_seconds

__all__ = ["IDENTITY_HEADER", "TABLE_FILE", "custom_auth"]

TABLE_FILE = "identities.json"  # beside LiteLLM's config.yaml (compiler/emit/litellm.py)


@dataclass(frozen=True)
class _Table:
    master_key_env: str
    keys: dict[str, dict[str, Any]]
    teams: dict[str, dict[str, Any]]
    by_digest: dict[bytes, str] = field(default_factory=dict)  # sha256 of a key's value -> its name
    ledger: SpendLedger = field(default_factory=SpendLedger)


@cache
def _table() -> _Table:
    """Read once, on the first request: the config's directory is known then."""
    config = getattr(proxy_server, "user_config_file_path", None)
    if not config:
        raise RuntimeError("custom_auth: LiteLLM was started without --config; the identity table is beside it")
    data = json.loads((Path(config).resolve().parent / TABLE_FILE).read_text(encoding="utf-8"))
    table = _Table(data["master_key_env"], dict(data["keys"]), dict(data["teams"]))
    for name, key in table.keys.items():
        value = os.environ.get(key["key_env"])
        if value:
            table.by_digest[hashlib.sha256(value.encode()).digest()] = name
        table.ledger.windows[("key", name)] = window_seconds(key.get("budget_duration"))
    for name, team in table.teams.items():
        table.ledger.windows[("team", name)] = window_seconds(team.get("budget_duration"))
    litellm.logging_callback_manager.add_litellm_callback(table.ledger)
    return table


def _refuse(message: str) -> ProxyException:
    return ProxyException(message=message, type=ProxyErrorTypes.auth_error, param="api_key", code=401)


async def custom_auth(request: Any, api_key: str) -> UserAPIKeyAuth:
    table = _table()
    master = os.environ.get(table.master_key_env, "")
    named = request.headers.get(IDENTITY_HEADER)
    if master and hmac.compare_digest(api_key.encode(), master.encode()):
        if named is None:
            # the proxy admin, as LiteLLM's own master-key path makes it: under an alias, so
            # neither the master key nor its hash reaches spend records or metric labels
            return UserAPIKeyAuth(
                api_key=LITELLM_PROXY_MASTER_KEY_ALIAS,
                user_role=LitellmUserRoles.PROXY_ADMIN,
                user_id=proxy_server.litellm_proxy_admin_name,
            )
        if named not in table.keys:
            raise _refuse(f"the gateway named an unknown client key {named!r}; recompile and redeploy both")
        return _identity(table, named)
    name = table.by_digest.get(hashlib.sha256(api_key.encode()).digest())
    if name is None:
        # a client's own identity header counts for nothing: only the master key may name one
        raise _refuse("invalid API key")
    return _identity(table, name)


def _identity(table: _Table, name: str) -> UserAPIKeyAuth:
    """The key as LiteLLM's checks and accounting know a virtual key: its alias, team, models,
    limits and what it spent in the current window. `token` (LiteLLM's hashed_api_key label) is
    derived from the key's name, not its value: stable, and LiteLLM need not hold every value."""
    key = table.keys[name]
    team_name = key.get("team")
    team = table.teams.get(team_name or "", {})
    token = hashlib.sha256(f"gateway-client-key:{name}".encode()).hexdigest()
    fields: dict[str, Any] = {
        "api_key": token,
        "token": token,
        "key_alias": name,
        "key_name": name,
        "user_role": LitellmUserRoles.INTERNAL_USER,
        "models": list(key.get("models") or []),
        "max_budget": key.get("max_budget"),
        "budget_duration": key.get("budget_duration"),
        "rpm_limit": key.get("rpm_limit"),
        "tpm_limit": key.get("tpm_limit"),
        "spend": table.ledger.spend("key", name),
    }
    if team_name:
        fields |= {
            "team_id": team_name,
            "team_alias": team_name,
            "team_models": list(team.get("models") or []),
            "team_max_budget": team.get("max_budget"),
            "team_rpm_limit": team.get("rpm_limit"),
            "team_tpm_limit": team.get("tpm_limit"),
            "team_spend": table.ledger.spend("team", team_name),
        }
    return UserAPIKeyAuth(**fields)
