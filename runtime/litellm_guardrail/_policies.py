"""What both guardrails share: the compiled bundle (loaded once per process, reloaded when it
changes), the fail mode, and one decision (runtime.policy.decision.verdict) that is recorded on
the request for the decision headers, reported as an event and in LiteLLM's own guardrail logging.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

from litellm.integrations.custom_guardrail import CustomGuardrail

from runtime.policy.decision import PolicyName, Verdict, fail_open_verdict, unavailable_error, verdict
from runtime.telemetry import emit_event

__all__ = ["DECISION_EVENT", "BundlePolicies", "GuardrailConfigError", "PolicyEvaluator", "recorded_verdicts"]

DECISION_EVENT = "policy_gateway.guardrail.decision"

_log = logging.getLogger("policy_gateway.guardrail")


class GuardrailConfigError(RuntimeError):
    """The guardrail cannot run. Deliberately not a ValueError/TypeError: LiteLLM logs those from
    a guardrail's constructor and starts the proxy *without* the guardrail, which would silently
    fail open. Any other exception stops the proxy from starting."""


class PolicyEvaluator(Protocol):
    """What the guardrails need from runtime.policy.PolicyStore."""

    def evaluate(self, policy: PolicyName, input: Mapping[str, Any]) -> dict[str, Any]: ...


_stores: dict[tuple[Path, str], PolicyEvaluator] = {}
_stores_lock = threading.Lock()


def _store_for(path: Path, trust_config: Mapping[str, Any] | None) -> PolicyEvaluator:
    # Every guardrail entry names the same bundle (and the same trust settings); load it once per process.
    from runtime.policy import PolicyStore, TrustConfigError, bundle_trust
    from runtime.settings import SettingsError, policy_engine

    key = (path, json.dumps(trust_config, sort_keys=True))
    with _stores_lock:
        if key not in _stores:
            # What the bundle must prove, as the gateway's gateway.json says it (compiled from the
            # specs' policy_bundle); SEA_ENV=production can only make it stricter.
            try:
                trust = bundle_trust(trust_config, os.environ, production=os.environ.get("SEA_ENV") == "production")
            except TrustConfigError as exc:
                raise GuardrailConfigError(f"bundle_trust: {exc}") from None
            try:
                engine = policy_engine(os.environ)
            except SettingsError as exc:
                raise GuardrailConfigError(str(exc)) from None
            _stores[key] = PolicyStore(path, trust=trust, engine=engine)
        return _stores[key]


def _config_dir() -> Path:
    # LiteLLM keeps the path of the config it was started with in this module global.
    proxy_server = sys.modules.get("litellm.proxy.proxy_server")
    config_path = getattr(proxy_server, "user_config_file_path", None)
    return Path(config_path).resolve().parent if config_path else Path.cwd()


def _resolve_bundle(raw: str) -> Path:
    value = os.environ.get(raw.removeprefix("os.environ/"), "") if raw.startswith("os.environ/") else raw
    if not value:
        raise GuardrailConfigError(f"policy_bundle {raw!r} names an unset environment variable")
    path = Path(value)
    return path if path.is_absolute() else (_config_dir() / path).resolve()


# Where a request's verdicts are kept between the hooks: LiteLLM's own metadata, never a new
# top-level key of `data` (that could be forwarded to the provider).
_VERDICTS_KEY = "policy_guardrail_verdicts"


def _bookkeeping(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """LiteLLM's metadata of the request: `litellm_metadata` on the routes that keep it there
    (there `metadata` is the client's, sent upstream), else `metadata`. None where LiteLLM hands
    over no request (an MCP tool result comes with its logging details): nothing to answer there."""
    for key in ("litellm_metadata", "metadata"):
        bag = data.get(key)
        if isinstance(bag, dict):
            return bag
    return None


def recorded_verdicts(data: Mapping[str, Any]) -> list[Verdict]:
    """The verdicts recorded on this request so far, in order."""
    bag = _bookkeeping(data)
    found = bag.get(_VERDICTS_KEY) if bag is not None else None
    if not isinstance(found, list):
        return []
    return [Verdict(v["policy"], v["version"], v["mode"], v["action"], tuple(v["categories"])) for v in found]


def _record(data: Mapping[str, Any], v: Verdict) -> None:
    bag = _bookkeeping(data)
    if bag is not None:
        # Plain JSON: LiteLLM copies and logs its metadata.
        entry = {"policy": v.policy, "version": v.version, "mode": v.mode, "action": v.action}
        bag.setdefault(_VERDICTS_KEY, []).append({**entry, "categories": list(v.categories)})


class BundlePolicies(CustomGuardrail):
    """A LiteLLM guardrail backed by the compiled policy bundle."""

    # Hooks LiteLLM looks up in the registered class's own __dict__, not through the MRO
    # (proxy/utils.py:ProxyLogging.callback_capabilities, `"apply_guardrail" in type(cb).__dict__`):
    # a subclass without them would silently run unguarded, so it is given them explicitly.
    leaf_hooks: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.leaf_hooks:
            if name not in cls.__dict__:
                owner = next(base for base in cls.__mro__ if name in base.__dict__)
                setattr(cls, name, owner.__dict__[name])

    def __init__(
        self,
        *,
        policy_bundle: str | None = None,
        bundle_trust: Mapping[str, Any] | None = None,
        fail_mode: str = "closed",
        reload_interval_s: float = 5.0,
        store: PolicyEvaluator | None = None,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if fail_mode not in ("closed", "open"):
            raise GuardrailConfigError(f"fail_mode {fail_mode!r} is not closed or open")
        self.fail_mode = fail_mode
        self._reload_interval_s = float(reload_interval_s)
        self._clock = clock
        self._checked_at = clock()
        self.reloader: threading.Thread | None = None
        if store is not None:
            self._store = store
            return
        if not policy_bundle:
            raise GuardrailConfigError(
                f"guardrail {self.guardrail_name!r} needs litellm_params.policy_bundle "
                "(the path of generated/<env>/opa/bundle.tar.gz)"
            )
        path = _resolve_bundle(policy_bundle)
        try:
            self._store = _store_for(path, bundle_trust)
        except GuardrailConfigError:
            raise
        except Exception as exc:
            raise GuardrailConfigError(
                f"guardrail {self.guardrail_name!r} cannot load the policy bundle {path}: "
                f"{type(exc).__name__}: {exc} (run `gatewayctl compile`)"
            ) from exc

    def _decide(
        self, policy: PolicyName, input: Mapping[str, Any], data: dict[str, Any], *, can_redact: bool = False
    ) -> Verdict:
        """One decision, recorded on the request (for the decision headers) and reported: an
        OpenTelemetry event and LiteLLM's own guardrail logging (spend logs, Langfuse, ...).
        Raises the 503 ApiError when no decision can be made and the fail mode is closed."""
        self._reload_when_due()
        started = time.time()
        try:
            result = verdict(policy, self._store.evaluate(policy, input), can_redact=can_redact)
        except Exception as exc:
            result = self._no_decision(policy, type(exc).__name__)
        _record(data, result)
        emit_event(
            DECISION_EVENT,
            {
                "guardrail": str(self.guardrail_name or ""),
                "policy": policy,
                "policy_version": result.version,
                "mode": result.mode,
                "action": result.action,
                "categories": ",".join(result.categories),
            },
        )
        ended = time.time()
        self.add_standard_logging_guardrail_information_to_request_data(
            guardrail_json_response=_public(result),
            request_data=data,
            guardrail_status=(
                "guardrail_failed_to_respond"
                if result.action == "fail_open"
                else "guardrail_intervened"
                if result.action in ("block", "redact")
                else "guardrail_flagged"
                if result.categories
                else "success"
            ),
            start_time=started,
            end_time=ended,
            duration=ended - started,
            guardrail_provider="opa-bundle",
        )
        return result

    def _no_decision(self, policy: PolicyName, why: str) -> Verdict:
        if self.fail_mode == "open":
            emit_event("policy_gateway.fail_open", {"reason": f"{policy}_policy_unavailable", "error": why})
            versions = getattr(self._store, "versions", None)
            return fail_open_verdict(policy, str(versions.get(policy, "")) if isinstance(versions, dict) else "")
        _log.error("policy evaluation failed", extra={"policy": policy, "error": why})
        raise unavailable_error(policy)

    def _output_cannot_act(self, model: str) -> bool:
        """True when the loaded bundle runs the output policy in `off` or `monitor` (asked with no
        text, as the gateway does), so an answer need not be held back; any doubt means hold."""
        try:
            return self._store.evaluate("output", {"texts": [], "model": model}).get("mode") in ("off", "monitor")
        except Exception:
            return False

    def _reload_when_due(self) -> None:
        """A recompiled bundle (say, a policy moved from monitor to enforce) takes effect without
        restarting LiteLLM: every `reload_interval_s` the store checks its file, in a thread so
        no request waits for a reload. Evaluations keep the loaded bundle until the new one is
        ready; a broken new bundle is refused and the loaded one stays."""
        reload = getattr(self._store, "reload_if_changed", None)
        now = self._clock()
        if reload is None or self._reload_interval_s <= 0 or now - self._checked_at < self._reload_interval_s:
            return
        if self.reloader is not None and self.reloader.is_alive():
            return
        self._checked_at = now
        self.reloader = threading.Thread(
            target=_reload, args=(self._store, str(self.guardrail_name or "")), name="policy-bundle-reload", daemon=True
        )
        self.reloader.start()


def _reload(store: Any, guardrail: str) -> None:
    """One reload check of the store: a new bundle is proven and swapped in, or refused (the loaded
    one keeps serving); either is reported with the revision that serves."""
    status = getattr(store, "status", None)
    try:
        before = status() if status is not None else {}
        reloaded = store.reload_if_changed()
        after = status() if status is not None else {}
    except Exception:
        # The loaded bundle keeps serving; the next interval tries again.
        _log.exception("policy bundle reload failed", extra={"guardrail": guardrail})
        return
    if reloaded:
        emit_event("policy_gateway.guardrail.bundle_reloaded", {
            "guardrail": guardrail,
            "revision": str(after.get("revision") or ""),
            "previous_revision": str(before.get("revision") or ""),
        })
    elif after.get("last_error") and after.get("last_error") != before.get("last_error"):
        emit_event("policy_gateway.guardrail.bundle_rejected", {
            "guardrail": guardrail,
            "error": str(after["last_error"]),
            "revision": str(after.get("revision") or ""),
        })


def _public(v: Verdict) -> dict[str, Any]:
    """The decision as LiteLLM may log it: rule ids, categories and positions, never text."""
    return {
        "policy": v.policy,
        "policy_version": v.version,
        "mode": v.mode,
        "action": v.action,
        "categories": list(v.categories),
        "rules": list(v.rules),
        "violations": [dict(x) for x in v.violations],
    }
