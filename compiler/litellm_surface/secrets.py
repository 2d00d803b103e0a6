"""No literal secret anywhere: a value secret by its key's name or by its shape must be an
os.environ/NAME reference. Walks plain data (a spec document or a LiteLLM config) with positions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from compiler.errors import SpecError
from compiler.load import KeyPath, SourceMap, dotted

ENV_REF = re.compile(r"^os\.environ/[A-Za-z_][A-Za-z0-9_]*$")
# Compose's own interpolation (a service's environment), which is a reference too.
COMPOSE_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*([:?-][^}]*)?\}$")
# Words that make a key a secret (snake_case parts), and the parts that say it is not one.
_SECRET_WORDS = {"password", "passwd", "secret", "dsn", "credential", "credentials"}
_LAST_WORDS = {"token"}  # auth_token, session_token; not token_budget or token_rate_limit_type
_SECRET_KEYS = {"api_key", "master_key", "access_key", "private_key", "access_key_id", "secret_access_key",
                "session_token", "webhook_url", "database_url", "connection_string", "key"}
_SECRET_SUFFIXES = ("_api_key", "_master_key", "_secret_key", "_private_key", "_access_key", "_signing_key",
                    "_database_url", "_webhook_url")
_NOT_SECRET = {"env", "id", "name", "names", "path", "file", "header", "ttl", "type", "field", "region"}
# Values that are secrets whatever their key: vendor key formats and URLs carrying a password.
_SECRET_SHAPES = (
    (re.compile(r"^sk-[A-Za-z0-9_-]{8,}"), "an API key (sk-...)"),
    (re.compile(r"^(sk-ant-|sk-lf-|pk-lf-|xox[abp]-|ghp_|glpat-|AKIA|ASIA)[A-Za-z0-9_-]{4,}"), "an API key"),
    (re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@"), "a connection string with a password"),
    (re.compile(r"^-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
)


def is_secret_key(key: str) -> bool:
    parts = key.lower().split("_")
    if parts[-1] in _NOT_SECRET or "public" in parts or "max" in parts:
        return False
    lowered = key.lower()
    return (lowered in _SECRET_KEYS or lowered.endswith(_SECRET_SUFFIXES) or bool(_SECRET_WORDS & set(parts))
            or parts[-1] in _LAST_WORDS)


def secret_shape(value: str) -> str | None:
    return next((what for pattern, what in _SECRET_SHAPES if pattern.search(value)), None)


# The names LiteLLM's own documentation uses for these.
_CONVENTIONAL = {"master_key": "LITELLM_MASTER_KEY", "database_url": "DATABASE_URL", "redis_password": "REDIS_PASSWORD",
                 "redis_url": "REDIS_URL", "slack_webhook_url": "SLACK_WEBHOOK_URL"}
# Secrets LiteLLM takes only as written (the Router resolves no os.environ/), so from the environment.
_ENV_ONLY = {(section, key) for section in ("router", "router_settings") for key in ("redis_password", "redis_url")}
# A secret inside these sections is named after what it unlocks.
_SECTION_PREFIX = {"cache_params": "redis"}


def suggest_env_name(path: KeyPath, document: Any) -> str:
    """An environment variable name for the secret at `path`: its key, prefixed with the nearest
    name above it (a model's, a service's) when the key alone says little (api_key, password)."""
    key = str(path[-1])
    if key.lower() in _CONVENTIONAL:
        return _CONVENTIONAL[key.lower()]
    prefix = _SECTION_PREFIX.get(next((str(p) for p in path if str(p) in _SECTION_PREFIX), ""), "")
    if key.lower() in {"api_key", "password", "token", "secret", "key", "url", "dsn"}:
        node = document
        for part in path[:-1]:
            node = node[part]
            if isinstance(node, dict):
                named = node.get("model_name") or node.get("name")
                if isinstance(named, str):
                    prefix = named
            if isinstance(part, str) and part not in ("litellm_params", "settings", "litellm"):
                prefix = prefix or part
    name = re.sub(r"[^A-Za-z0-9]+", "_", f"{prefix}_{key}" if prefix else key).strip("_").upper()
    return name if name[:1].isalpha() else f"SECRET_{name}"


def literal_secrets(
    document: Any, smap: SourceMap, path: KeyPath = (), root: Any = None
) -> Iterator[SpecError]:
    root = document if root is None else root
    if isinstance(document, dict):
        for key, value in document.items():
            yield from literal_secrets(value, smap, (*path, key), root)
        return
    if isinstance(document, list):
        for i, item in enumerate(document):
            yield from literal_secrets(item, smap, (*path, i), root)
        return
    if not isinstance(document, str) or not path or not document.strip():
        return
    if ENV_REF.match(document) or COMPOSE_REF.match(document):
        return
    key = str(path[-1]) if isinstance(path[-1], str) else ""
    shape = secret_shape(document)
    if shape is None and not (key and is_secret_key(key)):
        return
    what = shape or "a secret"
    env = suggest_env_name(path, root)
    where = dotted(path)
    if tuple(map(str, path[-2:])) in _ENV_ONLY:
        hint = f"leave it out and set {env} where the proxy runs: LiteLLM's Redis client reads it itself"
    else:
        hint = f"write os.environ/{env} and set {env} where the process runs (never in a file under git)"
    yield SpecError(smap.locate(path), f"{where} holds {what} in plain text", hint)
