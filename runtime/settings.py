"""The gateway's settings: `generated/<env>/gateway.json` (compiled from specs/) overlaid with
environment variables. The one place that reads them; everything else gets a frozen Settings.

Environment variables (all optional; documented in the README):
  LLM_PROVIDER_URL                      upstream LiteLLM base URL (default from gateway.json, then
                                        http://llm-provider:8001/v1)
  LLM_PROVIDER_API_KEY                  the key the gateway presents to LiteLLM
  POLICY_GATEWAY_MASTER_KEY             client key with access to everything
  POLICY_GATEWAY_API_KEYS               comma-separated client keys (no identity in LiteLLM)
  <client_keys.*.key_env of gateway.json>  the value of each client key the specs name (`keys:`);
                                        the gateway calls LiteLLM as that key
  REDIS_URL                             shared rate-limit / budget state
  REDIS_SENTINELS                       instead of REDIS_URL: comma-separated host:port of Redis
                                        Sentinels (REDIS_SENTINEL_MASTER names the master)
  REDIS_SENTINEL_MASTER                 the master name the sentinels monitor
  REDIS_PASSWORD                        the Redis password (with REDIS_URL or the sentinels)
  POLICY_GATEWAY_FAIL_MODE              closed | open
  POLICY_GATEWAY_CB_FAILURE_THRESHOLD   consecutive upstream failures that open the breaker
  POLICY_GATEWAY_CB_RESET_TIMEOUT_S     seconds before the half-open probe
  SEA_ENV                               development | staging | production
  LLM_ENABLE_POLICY_GATEWAY             true | false
  POLICY_GATEWAY_UPSTREAM_TIMEOUT_S     seconds to wait for the upstream's answer
  POLICY_GATEWAY_HEALTH_INTERVAL_S      backend health probe interval (0 disables the probes)
  POLICY_GATEWAY_RELOAD_INTERVAL_S      how often the bundle file is checked for changes
  POLICY_GATEWAY_DECISION_TIMEOUT_S     longest a policy decision may take (then: the fail mode)
  POLICY_GATEWAY_DECISION_THREADS       threads that run policy decisions (default: GOMAXPROCS
                                        where it is set, else the CPU count)
  POLICY_GATEWAY_LOG_LEVEL              log level of the JSON logs
  POLICY_GATEWAY_OPERATIONS_PORT        port of the operations endpoints (metrics, status)
  POLICY_GATEWAY_HEADER_TIMEOUT_S       seconds a client may take to send a request's headers
  POLICY_GATEWAY_BODY_TIMEOUT_S         seconds a client may take to send a request's body
  POLICY_GATEWAY_KEEP_ALIVE_TIMEOUT_S   seconds an idle connection stays open between requests
  POLICY_GATEWAY_MAX_HEADER_BYTES       largest request line and headers (more: 431)
  POLICY_GATEWAY_MAX_CONNECTIONS        open connections and requests in flight (more: 503)
  POLICY_GATEWAY_AUTH_FAILURES_PER_MINUTE  failed authentications per client address (more: 429)
  POLICY_GATEWAY_TRUSTED_PROXIES        comma-separated proxy addresses/CIDRs whose X-Forwarded-For
                                        names the client address
  POLICY_GATEWAY_REDIS_MAX_CONNECTIONS  size of the Redis connection pool
  POLICY_GATEWAY_ADMISSION_LEASE_S      life of an admission slot in Redis without renewal: how
                                        long a crashed replica's slots stay taken
  POLICY_ENGINE                         auto | rego | wasm: the engine of the policy decisions
                                        (auto: the faster, OPA's Rego engine; also the guardrail's)
  <policy_bundle.signature.public_key_env>   the PEM key signed bundles are verified with, where the
                                        specs name a variable (e.g. POLICY_BUNDLE_PUBLIC_KEY)
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from runtime.policy import ENGINES, EngineChoice
from runtime.policy._trust import BundleTrust, TrustConfigError, bundle_trust

__all__ = [
    "DEFAULT_LLM_PROVIDER_URL",
    "BackendSettings",
    "ModelSettings",
    "ServerLimits",
    "Settings",
    "SettingsError",
    "load_settings",
    "policy_engine",
    "startup_problems",
]

DEFAULT_LLM_PROVIDER_URL = "http://llm-provider:8001/v1"

FailMode = Literal["closed", "open"]


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line, fit for a startup refusal."""


@dataclass(frozen=True)
class BackendSettings:
    name: str
    base_url: str
    capabilities: tuple[str, ...]
    concurrency: Mapping[str, int]
    health_live: str | None = None
    health_ready: str | None = None
    legacy_names: tuple[str, ...] = ()
    # seed 003's payload policy for images: "url" (base64 refused) or "b64_json" (allowed), and
    # the largest base64 image the gateway passes on
    images_format: str = "url"
    max_image_bytes: int | None = None


@dataclass(frozen=True)
class ModelSettings:
    name: str
    backend: str
    capability: str = "chat"
    fallbacks: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServerLimits:
    """What one replica's HTTP server accepts from a connection (`gateway.server` of the specs);
    serve.py applies them, the protocol in runtime/gateway/server.py enforces the timeouts and
    the header size."""

    header_timeout_s: float = 10.0  # from the connection's opening (or a request's first byte)
    body_timeout_s: float = 30.0  # the whole body, from the end of its headers
    keep_alive_timeout_s: float = 65.0  # idle between requests
    max_header_bytes: int = 16_384  # request line and headers
    max_connections: int = 1_000  # open connections and requests in flight
    auth_failures_per_minute: int = 20  # per client address
    trusted_proxies: tuple[str, ...] = ()  # addresses/CIDRs whose X-Forwarded-For names the client


@dataclass(frozen=True)
class Settings:
    environment: str
    sea_env: str
    enable_policy_gateway: bool
    fail_mode: FailMode
    listen_port: int
    llm_provider_url: str
    bundle_path: Path
    llm_provider_api_key: str | None = None
    master_key: str | None = None
    api_keys: tuple[str, ...] = ()
    redis_url: str | None = None
    # Redis Sentinel instead of redis_url: (host, port) of each sentinel and the master's name
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_sentinel_master: str | None = None
    redis_password: str | None = None
    cb_failure_threshold: int = 5
    cb_reset_timeout_s: float = 30.0
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    max_body_bytes: int = 1_048_576
    # the largest whole answer (and the largest single stream event) taken from the upstream
    max_answer_bytes: int = 16_777_216
    upstream_timeout_s: float = 600.0
    health_interval_s: float = 30.0
    reload_interval_s: float = 2.0
    decision_timeout_s: float = 2.0
    decision_threads: int = 2
    log_level: str = "INFO"
    backends: Mapping[str, BackendSettings] = field(default_factory=dict)
    models: Mapping[str, ModelSettings] = field(default_factory=dict)
    policies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # the endpoints this environment exposes (names of runtime.endpoints.ENDPOINTS); any other is 404
    endpoints: tuple[str, ...] = ("chat",)
    mcp_servers: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    operations_port: int | None = None  # None: the operations endpoints are not served
    server: ServerLimits = ServerLimits()
    redis_max_connections: int = 50
    # the client keys of the specs: name -> value (from its variable); absent: a startup problem
    named_keys: Mapping[str, str] = field(default_factory=dict)
    missing_key_envs: tuple[str, ...] = ()
    admission_lease_s: float = 30.0
    # what a bundle must prove before it is loaded (gateway.json's policy_bundle and its key)
    bundle_trust: BundleTrust = field(default_factory=BundleTrust)
    bundle_trust_problem: str | None = None  # why the trust settings cannot be used (a startup problem)
    policy_engine: EngineChoice = "auto"  # POLICY_ENGINE

    @property
    def is_production(self) -> bool:
        return self.sea_env == "production"

    @property
    def uses_redis(self) -> bool:
        return bool(self.redis_url or self.redis_sentinels)

    @property
    def client_keys(self) -> tuple[str, ...]:
        keys = (self.master_key, *self.api_keys, *self.named_keys.values())
        return tuple(k for k in keys if k)


def policy_engine(environ: Mapping[str, str]) -> EngineChoice:
    """POLICY_ENGINE: which engine decides (auto, the default, is the faster one)."""
    value = environ.get("POLICY_ENGINE") or "auto"
    for choice in ENGINES:
        if value == choice:
            return choice
    raise SettingsError(f"POLICY_ENGINE={value!r} must be auto, rego or wasm")


def default_decision_threads(environ: Mapping[str, str]) -> int:
    """As many decision threads as OPA's Go runtime has processors: GOMAXPROCS where it is a
    positive number (Go ignores any other value, and so does this), else the CPU count. More
    calling threads than processors wait for Go's monitor to hand a processor over, which cost
    10-39 ms of p50 at one client with GOMAXPROCS=1 and two threads (docs/benchmarks.md)."""
    value = environ.get("GOMAXPROCS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return os.cpu_count() or 2


def _bool(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no", ""):
        return False
    raise SettingsError(f"{name}={value!r} is not a boolean (use true or false)")


def _number(name: str, value: Any, kind: type[int] | type[float], *, minimum: float) -> Any:
    try:
        n = kind(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name}={value!r} is not a {kind.__name__}") from None
    if n < minimum:
        raise SettingsError(f"{name}={value!r} must be at least {minimum}")
    return n


def _read_gateway_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{path} not found (run `gatewayctl compile` or pass --generated DIR)") from None
    except (OSError, ValueError) as exc:
        raise SettingsError(f"{path} is unreadable: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path} must hold a JSON object")
    return data


def _backends(raw: Mapping[str, Any]) -> dict[str, BackendSettings]:
    out = {}
    for name, b in raw.items():
        health = b.get("health") or {}
        payload = b.get("payload_policy") or {}
        out[name] = BackendSettings(
            name=name,
            base_url=str(b["base_url"]),
            capabilities=tuple(b.get("capabilities", ())),
            concurrency={k: int(v) for k, v in (b.get("concurrency") or {}).items()},
            health_live=health.get("live"),
            health_ready=health.get("ready"),
            legacy_names=tuple(b.get("legacy_names", ())),
            images_format=str(payload.get("images_format", "url")),
            max_image_bytes=int(payload["max_image_bytes"]) if payload.get("max_image_bytes") else None,
        )
    return out


def _models(raw: Mapping[str, Any]) -> dict[str, ModelSettings]:
    return {
        name: ModelSettings(
            name=name,
            backend=str(m["backend"]),
            capability=str(m.get("capability", "chat")),
            fallbacks=tuple(m.get("fallbacks", ())),
        )
        for name, m in raw.items()
    }


def _sentinels(environ: Mapping[str, str]) -> tuple[tuple[str, int], ...]:
    """REDIS_SENTINELS as (host, port) pairs; it and REDIS_URL exclude each other, and it needs
    REDIS_SENTINEL_MASTER."""
    raw = environ.get("REDIS_SENTINELS", "")
    entries = [e.strip() for e in raw.split(",") if e.strip()]
    if not entries:
        return ()
    if environ.get("REDIS_URL"):
        raise SettingsError("set REDIS_URL or REDIS_SENTINELS, not both")
    if not environ.get("REDIS_SENTINEL_MASTER"):
        raise SettingsError("REDIS_SENTINELS is set but REDIS_SENTINEL_MASTER (the master's name) is not")
    out = []
    for entry in entries:
        host, _, port = entry.rpartition(":")
        checked = _port("REDIS_SENTINELS", port) if host and port.isdigit() else None
        if checked is None:
            raise SettingsError(f"REDIS_SENTINELS entry {entry!r} is not host:port")
        out.append((host.strip("[]"), checked))
    return tuple(out)


def _port(name: str, value: Any) -> int | None:
    if value is None:
        return None
    port: int = _number(name, value, int, minimum=1)
    if port > 65535:
        raise SettingsError(f"{name}={value!r} is not a port (1-65535)")
    return port


def _server_limits(raw: Mapping[str, Any], env_or: Callable[[str, Any], Any]) -> ServerLimits:
    """`server` of gateway.json, each field overridable by its POLICY_GATEWAY_* variable."""
    d = ServerLimits()

    def pick(name: str, key: str, kind: type[int] | type[float], minimum: float) -> Any:
        return _number(name, env_or(name, raw.get(key, getattr(d, key))), kind, minimum=minimum)

    proxies = env_or("POLICY_GATEWAY_TRUSTED_PROXIES", None)
    trusted = tuple(p.strip() for p in proxies.split(",") if p.strip()) if proxies else tuple(
        raw.get("trusted_proxies") or ()
    )
    for entry in trusted:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise SettingsError(f"trusted proxy {entry!r} is not an address or CIDR") from None
    return ServerLimits(
        header_timeout_s=pick("POLICY_GATEWAY_HEADER_TIMEOUT_S", "header_timeout_s", float, 0.01),
        body_timeout_s=pick("POLICY_GATEWAY_BODY_TIMEOUT_S", "body_timeout_s", float, 0.01),
        keep_alive_timeout_s=pick("POLICY_GATEWAY_KEEP_ALIVE_TIMEOUT_S", "keep_alive_timeout_s", float, 0.01),
        max_header_bytes=pick("POLICY_GATEWAY_MAX_HEADER_BYTES", "max_header_bytes", int, 1024),
        max_connections=pick("POLICY_GATEWAY_MAX_CONNECTIONS", "max_connections", int, 2),
        auth_failures_per_minute=pick(
            "POLICY_GATEWAY_AUTH_FAILURES_PER_MINUTE", "auth_failures_per_minute", int, 1
        ),
        trusted_proxies=trusted,
    )


def load_settings(
    env: str,
    generated_dir: Path | str = "generated",
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings for environment `env` from `<generated_dir>/<env>/gateway.json` and `environ`."""
    environ = os.environ if environ is None else environ
    gateway_json = Path(generated_dir) / env / "gateway.json"
    data = _read_gateway_json(gateway_json)

    def env_or(name: str, default: Any) -> Any:
        value = environ.get(name)
        return default if value is None or value == "" else value

    try:
        cb = data.get("circuit_breaker") or {}
        rl = data.get("rate_limit") or {}
        fail_mode = str(env_or("POLICY_GATEWAY_FAIL_MODE", data.get("fail_mode", "closed")))
        if fail_mode not in ("closed", "open"):
            raise SettingsError(f"POLICY_GATEWAY_FAIL_MODE={fail_mode!r} must be closed or open")
        enable = env_or("LLM_ENABLE_POLICY_GATEWAY", None)
        rpm = rl.get("requests_per_minute")
        tpm = rl.get("tokens_per_minute")
        keys = environ.get("POLICY_GATEWAY_API_KEYS", "")
        sea_env = str(env_or("SEA_ENV", data.get("sea_env", "development")))
        key_envs = {name: str(k["key_env"]) for name, k in (data.get("client_keys") or {}).items()}
        trust_problem = None
        try:
            trust = bundle_trust(data.get("policy_bundle"), environ, production=sea_env == "production")
        except TrustConfigError as exc:
            # Reported by startup_problems, after the fail-fast rules; meanwhile no bundle is trusted.
            trust_problem = str(exc)
            trust = BundleTrust(signature_required=True, production=True)
        return Settings(
            environment=str(data.get("environment", env)),
            sea_env=sea_env,
            enable_policy_gateway=(
                _bool("LLM_ENABLE_POLICY_GATEWAY", enable)
                if enable is not None
                else bool(data.get("enable_policy_gateway", False))
            ),
            fail_mode=fail_mode,  # type: ignore[arg-type]
            listen_port=int(data.get("listen_port", 8080)),
            llm_provider_url=str(
                env_or("LLM_PROVIDER_URL", data.get("llm_provider_url") or DEFAULT_LLM_PROVIDER_URL)
            ).rstrip("/"),
            bundle_path=gateway_json.parent / str(data.get("bundle", "opa/bundle.tar.gz")),
            llm_provider_api_key=environ.get("LLM_PROVIDER_API_KEY") or None,
            master_key=environ.get("POLICY_GATEWAY_MASTER_KEY") or None,
            api_keys=tuple(k.strip() for k in keys.split(",") if k.strip()),
            redis_url=environ.get("REDIS_URL") or None,
            redis_sentinels=_sentinels(environ),
            redis_sentinel_master=environ.get("REDIS_SENTINEL_MASTER") or None,
            redis_password=environ.get("REDIS_PASSWORD") or None,
            cb_failure_threshold=_number(
                "POLICY_GATEWAY_CB_FAILURE_THRESHOLD",
                env_or("POLICY_GATEWAY_CB_FAILURE_THRESHOLD", cb.get("failure_threshold", 5)),
                int,
                minimum=1,
            ),
            cb_reset_timeout_s=_number(
                "POLICY_GATEWAY_CB_RESET_TIMEOUT_S",
                env_or("POLICY_GATEWAY_CB_RESET_TIMEOUT_S", cb.get("reset_timeout_s", 30.0)),
                float,
                minimum=0.001,
            ),
            requests_per_minute=int(rpm) if rpm else None,
            tokens_per_minute=int(tpm) if tpm else None,
            max_body_bytes=int(data.get("max_body_bytes", 1_048_576)),
            max_answer_bytes=_number(
                "max_answer_bytes", data.get("max_answer_bytes", 16_777_216), int, minimum=1024
            ),
            upstream_timeout_s=_number(
                "POLICY_GATEWAY_UPSTREAM_TIMEOUT_S",
                env_or("POLICY_GATEWAY_UPSTREAM_TIMEOUT_S", 600.0),
                float,
                minimum=0.001,
            ),
            health_interval_s=_number(
                "POLICY_GATEWAY_HEALTH_INTERVAL_S",
                env_or("POLICY_GATEWAY_HEALTH_INTERVAL_S", 30.0),
                float,
                minimum=0.0,
            ),
            reload_interval_s=_number(
                "POLICY_GATEWAY_RELOAD_INTERVAL_S",
                env_or("POLICY_GATEWAY_RELOAD_INTERVAL_S", 2.0),
                float,
                minimum=0.05,
            ),
            decision_timeout_s=_number(
                "POLICY_GATEWAY_DECISION_TIMEOUT_S",
                env_or("POLICY_GATEWAY_DECISION_TIMEOUT_S", 2.0),
                float,
                minimum=0.01,
            ),
            decision_threads=_number(
                "POLICY_GATEWAY_DECISION_THREADS",
                env_or("POLICY_GATEWAY_DECISION_THREADS", default_decision_threads(environ)),
                int,
                minimum=1,
            ),
            log_level=str(env_or("POLICY_GATEWAY_LOG_LEVEL", "INFO")).upper(),
            backends=_backends(data.get("backends") or {}),
            models=_models(data.get("models") or {}),
            policies=dict(data.get("policies") or {}),
            endpoints=tuple(data.get("endpoints") or ("chat",)),
            mcp_servers=tuple(data.get("mcp_servers") or ()),
            agents=tuple(data.get("agents") or ()),
            operations_port=_port(
                "POLICY_GATEWAY_OPERATIONS_PORT", env_or("POLICY_GATEWAY_OPERATIONS_PORT", data.get("operations_port"))
            ),
            server=_server_limits(data.get("server") or {}, env_or),
            named_keys={name: environ[env] for name, env in key_envs.items() if environ.get(env)},
            missing_key_envs=tuple(sorted(env for env in key_envs.values() if not environ.get(env))),
            redis_max_connections=_number(
                "POLICY_GATEWAY_REDIS_MAX_CONNECTIONS",
                env_or("POLICY_GATEWAY_REDIS_MAX_CONNECTIONS", rl.get("redis_max_connections", 50)),
                int,
                minimum=1,
            ),
            admission_lease_s=_number(
                "POLICY_GATEWAY_ADMISSION_LEASE_S",
                env_or("POLICY_GATEWAY_ADMISSION_LEASE_S", 30.0),
                float,
                minimum=0.3,
            ),
            bundle_trust=trust,
            policy_engine=policy_engine(environ),
            bundle_trust_problem=trust_problem,
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise SettingsError(f"{gateway_json} is malformed: {exc!r}") from None


def startup_problems(settings: Settings) -> list[str]:
    """Reasons to refuse to start (the fail-fast rules); empty when the gateway may start.
    The bundle itself is checked by loading it (PolicyStore raises BundleError)."""
    problems = []
    if settings.is_production and not settings.enable_policy_gateway:
        problems.append(
            "SEA_ENV=production requires LLM_ENABLE_POLICY_GATEWAY=true: "
            "production traffic must not bypass the policy gateway"
        )
    if settings.is_production and settings.fail_mode != "closed":
        problems.append("POLICY_GATEWAY_FAIL_MODE=open is not allowed with SEA_ENV=production")
    if not settings.bundle_path.is_file():
        problems.append(f"policy bundle {settings.bundle_path} is missing")
    if settings.bundle_trust_problem:
        problems.append(settings.bundle_trust_problem)
    if settings.is_production and settings.missing_key_envs:
        # elsewhere such a key is only unusable (serve.py warns): a test or dev setup may not have them all
        problems.append(
            "client keys of the specs have no value: set " + ", ".join(settings.missing_key_envs)
        )
    if not settings.client_keys:
        problems.append("no client API keys: set POLICY_GATEWAY_MASTER_KEY or POLICY_GATEWAY_API_KEYS")
    return problems
