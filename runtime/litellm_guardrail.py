"""The compiled policies inside the LiteLLM proxy: a CustomGuardrail that evaluates the OPA bundle
in-process, the prompt policy before the call (`pre_call`) and the output policy after it
(`post_call`). One hop instead of two, or policies in `dev` where the separate gateway is off.

Loaded by LiteLLM from the `guardrails:` section that gatewayctl emits into
generated/<env>/litellm/config.yaml:

    guardrails:
      - guardrail_name: policy-prompt
        litellm_params:
          guardrail: runtime.litellm_guardrail.PolicyBundleGuardrail
          mode: pre_call
          default_on: true
          policy_bundle: ../opa/bundle.tar.gz   # relative to the config file
          reload_interval_s: 5                  # optional: how often a recompiled bundle is picked up

A block raises fastapi.HTTPException(400) whose detail is the gateway's error body (policy,
version, categories, rules and the decision without any matched text), so clients raise the same
PolicyViolation on either route. LiteLLM turns any other exception into a 500.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

from fastapi import HTTPException
from litellm.integrations.custom_guardrail import CustomGuardrail

from runtime.endpoints import ENDPOINTS, prompt_input
from runtime.telemetry import emit_event

__all__ = ["DECISION_EVENT", "GuardrailConfigError", "PolicyBundleGuardrail"]

DECISION_EVENT = "policy_gateway.guardrail.decision"
PolicyName = Literal["prompt", "output"]

_log = logging.getLogger("policy_gateway.guardrail")

# The fields of an OpenAI chat-completions request; LiteLLM adds its own keys (metadata, keys,
# call ids) to `data`, which the policy must neither see nor depend on.
_REQUEST_FIELDS = (
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "tools",
    "tool_choice",
    "functions",
    "stream",
    "temperature",
    "user",
)
# Only completion-style calls carry a prompt the policies understand.
_CHAT_CALL_TYPES = frozenset({"completion", "acompletion", "text_completion", "atext_completion"})


class GuardrailConfigError(RuntimeError):
    """The guardrail cannot run. Deliberately not a ValueError/TypeError: LiteLLM logs those from
    a guardrail's constructor and starts the proxy *without* the guardrail, which would silently
    fail open. Any other exception stops the proxy from starting."""


class PolicyEvaluator(Protocol):
    """What the guardrail needs from runtime.policy.PolicyStore."""

    def evaluate(self, policy: PolicyName, input: Mapping[str, Any]) -> dict[str, Any]: ...


_stores: dict[Path, PolicyEvaluator] = {}
_stores_lock = threading.Lock()


def _store_for(path: Path) -> PolicyEvaluator:
    # The pre_call and post_call guardrails name the same bundle; load it once per process.
    with _stores_lock:
        if path not in _stores:
            from runtime.policy import PolicyStore

            _stores[path] = PolicyStore(path)
        return _stores[path]


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


_HOOKS = (
    "async_pre_call_hook",
    "async_post_call_success_hook",
    "async_post_call_streaming_iterator_hook",
    "async_post_call_response_headers_hook",
)
# Where a request's verdicts are kept between the hooks: LiteLLM's own metadata, never
# forwarded to the provider (a new top-level key in `data` could be).
_VERDICTS_KEY = "policy_guardrail_verdicts"


class PolicyBundleGuardrail(CustomGuardrail):
    """Runs the prompt policy in `pre_call` and the output policy in `post_call`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # LiteLLM finds some hooks in the registered class's own __dict__, not through the MRO:
        # a subclass would silently stream answers unchecked. Give it the hooks explicitly.
        for name in _HOOKS:
            if name not in cls.__dict__:
                setattr(cls, name, PolicyBundleGuardrail.__dict__[name])

    def __init__(
        self,
        *,
        policy_bundle: str | None = None,
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
            self._store = _store_for(path)
        except Exception as exc:
            raise GuardrailConfigError(
                f"guardrail {self.guardrail_name!r} cannot load the policy bundle {path}: "
                f"{type(exc).__name__}: {exc} (run `gatewayctl compile`)"
            ) from exc

    # --- LiteLLM hooks ---------------------------------------------------------------------

    async def async_pre_call_hook(
        self,
        user_api_key_dict: Any,
        cache: Any,
        data: dict[str, Any],
        call_type: str,
    ) -> dict[str, Any]:
        if call_type in _CHAT_CALL_TYPES:
            decision = self._evaluate("prompt", _prompt_input(data), data)
            if decision is not None and _blocks(decision):
                raise _blocked("prompt", decision)
        return data

    async def async_post_call_success_hook(
        self,
        data: dict[str, Any],
        user_api_key_dict: Any,
        response: Any,
    ) -> Any:
        choices = getattr(response, "choices", None)
        if not choices:
            return response
        model = str(data.get("model") or getattr(response, "model", "") or "")
        for choice in choices:
            message = getattr(choice, "message", None)
            text = getattr(message, "content", None)
            if message is None or not isinstance(text, str) or not text:
                continue
            decision = self._evaluate("output", _answer(text, model), data)
            if decision is None:
                continue
            redactions = decision.get("redactions") or []
            if decision.get("mode") == "enforce" and redactions:
                try:
                    message.content = _redact(text, redactions)
                except ValueError:
                    # The policy saw other text than this; withhold rather than guess.
                    raise _blocked("output", decision) from None
            elif _blocks(decision):
                raise _blocked("output", decision)
        return response

    async def async_post_call_streaming_iterator_hook(
        self,
        user_api_key_dict: Any,
        response: Any,
        request_data: dict[str, Any],
    ) -> AsyncGenerator[Any, None]:
        """In `enforce`, a streamed answer is held until the output policy has seen each choice's
        whole text (simpler than the gateway's sliding hold-back window; nothing unchecked
        leaves), and a block after the 200 status line reaches the client as an error event. In
        `monitor` or `off` the policy cannot change the answer, so chunks pass at once and the
        whole text is checked afterwards, for the report."""
        model = str(request_data.get("model") or "")
        texts: dict[int, str] = {}
        if self._output_cannot_act(model):
            async for chunk in response:
                _collect(chunk, texts)
                yield chunk
            for text in texts.values():
                if text:
                    with contextlib.suppress(HTTPException):  # the answer is out; the failure is logged
                        self._evaluate("output", _answer(text, model), request_data)
            return
        chunks = []
        async for chunk in response:
            _collect(chunk, texts)
            chunks.append(chunk)
        redacted: dict[int, str] = {}
        for index, text in texts.items():
            if not text:
                continue
            decision = self._evaluate("output", _answer(text, model), request_data)
            if decision is None:
                continue
            redactions = decision.get("redactions") or []
            if decision.get("mode") == "enforce" and redactions:
                try:
                    redacted[index] = _redact(text, redactions)
                except ValueError:
                    raise _blocked("output", decision) from None
            elif _blocks(decision):
                raise _blocked("output", decision)
        for chunk in chunks:
            if redacted:
                _replace_stream_text(chunk, redacted)
            yield chunk

    def _output_cannot_act(self, model: str) -> bool:
        """True when the loaded bundle runs the output policy in `off` or `monitor` (asked with an
        empty text, as the gateway does); any doubt means hold the stream back."""
        try:
            return self._store.evaluate("output", _answer("", model)).get("mode") in ("off", "monitor")
        except Exception:
            return False

    # --- decisions -------------------------------------------------------------------------

    def _evaluate(self, policy: PolicyName, input: Mapping[str, Any], data: dict[str, Any]) -> dict[str, Any] | None:
        """The decision, or None when the policy could not be evaluated and fail mode is open.
        Every decision is reported: an OpenTelemetry event, LiteLLM's own guardrail logging
        (spend logs, Langfuse, …), and the x-policy-* response headers the gateway also sends."""
        self._reload_when_due()
        started = time.time()
        try:
            decision = self._store.evaluate(policy, input)
        except Exception as exc:
            self._no_decision(policy, type(exc).__name__)  # raises unless fail mode is open
            _record(data, policy, "", "unknown", "fail_open", [])
            return None
        mode = str(decision.get("mode", ""))
        version = str(decision.get("policy_version", ""))
        categories = _categories(decision)
        action = _action(decision)
        _record(data, policy, version, mode, action, categories)
        emit_event(
            DECISION_EVENT,
            {
                "guardrail": str(self.guardrail_name or ""),
                "policy": policy,
                "policy_version": version,
                "mode": mode,
                "action": action,
                "categories": ",".join(categories),
            },
        )
        ended = time.time()
        self.add_standard_logging_guardrail_information_to_request_data(
            guardrail_json_response=_public_decision(decision),
            request_data=data,
            guardrail_status=(
                "guardrail_intervened"
                if action in ("block", "redact")
                else "guardrail_flagged"
                if categories
                else "success"
            ),
            start_time=started,
            end_time=ended,
            duration=ended - started,
            guardrail_provider="opa-bundle",
        )
        return decision

    async def async_post_call_response_headers_hook(
        self,
        data: dict[str, Any],
        user_api_key_dict: Any,
        response: Any,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: dict[str, object] | None = None,
    ) -> dict[str, str] | None:
        """The gateway's decision headers; both guardrails (prompt, output) answer the same set,
        computed from every verdict recorded on this request."""
        verdicts = _verdicts(data)
        if not verdicts:
            return None
        actions = {v["action"] for v in verdicts}
        decision = next(
            (a for a in ("block", "redact", "fail_open", "monitor") if a in actions),
            "off" if actions == {"off"} else "allow",
        )
        headers = {
            "x-policy-decision": decision,
            "x-policy-version": ",".join(f"{v['policy']}={v['version']}" for v in verdicts if v["version"]),
        }
        categories = sorted({c for v in verdicts for c in v["categories"]})
        if categories:
            headers["x-policy-categories"] = ",".join(categories)
        return headers

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
            target=_reload, args=(reload, str(self.guardrail_name or "")), name="policy-bundle-reload", daemon=True
        )
        self.reloader.start()

    def _no_decision(self, policy: PolicyName, why: str) -> None:
        if self.fail_mode == "open":
            emit_event("policy_gateway.fail_open", {"reason": f"{policy}_policy_unavailable"})
            return None
        _log.error("policy evaluation failed", extra={"policy": policy, "error": why})
        raise HTTPException(
            status_code=503,
            detail={
                "error": {
                    "message": f"the {policy} policy could not be evaluated, so the request was "
                    "refused (fail mode closed); retry shortly",
                    "type": "service_unavailable",
                    "code": "policy_unavailable",
                }
            },
            headers={"retry-after": "5"},
        )


def _collect(chunk: Any, texts: dict[int, str]) -> None:
    for choice in getattr(chunk, "choices", None) or []:
        content = getattr(getattr(choice, "delta", None), "content", None)
        if isinstance(content, str):
            index = int(getattr(choice, "index", 0) or 0)
            texts[index] = texts.get(index, "") + content


def _replace_stream_text(chunk: Any, redacted: dict[int, str]) -> None:
    """The first content delta of a redacted choice carries the whole redacted text, the later
    ones nothing, so the client reassembles exactly the redacted answer."""
    for choice in getattr(chunk, "choices", None) or []:
        index = int(getattr(choice, "index", 0) or 0)
        delta = getattr(choice, "delta", None)
        if delta is not None and index in redacted and isinstance(delta.content, str):
            delta.content = redacted[index]
            redacted[index] = ""


def _reload(reload: Callable[[], bool], guardrail: str) -> None:
    try:
        if reload():
            emit_event("policy_gateway.guardrail.bundle_reloaded", {"guardrail": guardrail})
    except Exception:
        # The loaded bundle keeps serving; the next interval tries again.
        _log.exception("policy bundle reload failed", extra={"guardrail": guardrail})


def _action(decision: Mapping[str, Any]) -> str:
    """The gateway's vocabulary: off | monitor | redact | block | allow."""
    mode = decision.get("mode")
    violations = decision.get("violations") or []
    if mode == "off":
        return "off"
    if mode == "enforce" and decision.get("redactions"):
        return "redact"
    if _blocks(decision):
        return "block"
    return "monitor" if violations else "allow"


def _record(
    data: dict[str, Any],
    policy: str,
    version: str,
    mode: str,
    action: str,
    categories: list[str],
) -> None:
    metadata = data.setdefault("metadata", {})
    if isinstance(metadata, dict):
        verdict = {"policy": policy, "version": version, "mode": mode, "action": action}
        metadata.setdefault(_VERDICTS_KEY, []).append({**verdict, "categories": categories})


def _verdicts(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    metadata = data.get("metadata")
    verdicts = metadata.get(_VERDICTS_KEY) if isinstance(metadata, dict) else None
    return verdicts if isinstance(verdicts, list) else []


def _prompt_input(data: Mapping[str, Any]) -> dict[str, Any]:
    return prompt_input(ENDPOINTS["chat"], {key: data[key] for key in _REQUEST_FIELDS if key in data})


def _answer(text: str, model: str) -> dict[str, Any]:
    return {"model": model, "texts": [{"field": "text", "text": text}]}


def _blocks(decision: Mapping[str, Any]) -> bool:
    return decision.get("mode") == "enforce" and not decision.get("allow", False)


def _categories(decision: Mapping[str, Any]) -> list[str]:
    return sorted({str(v.get("category", "unknown")) for v in decision.get("violations") or []})


def _public_decision(decision: Mapping[str, Any]) -> dict[str, Any]:
    """The decision as clients may see it: rule ids, categories and positions, never text."""
    violations = [
        {key: violation[key] for key in ("rule", "category", "severity", "message", "where") if key in violation}
        for violation in decision.get("violations") or []
    ]
    return {
        "allow": bool(decision.get("allow", False)),
        "mode": decision.get("mode"),
        "policy_version": decision.get("policy_version"),
        "violations": violations,
    }


def _blocked(policy: PolicyName, decision: Mapping[str, Any]) -> HTTPException:
    version = str(decision.get("policy_version", ""))
    categories = _categories(decision)
    what, hint = (
        ("request", "remove the flagged content and retry")
        if policy == "prompt"
        else ("model's answer", "rephrase the request; the answer was withheld")
    )
    return HTTPException(
        status_code=400,
        detail={
            "error": {
                "message": f"the {what} was blocked by the {policy} policy {version} "
                f"(categories: {', '.join(categories) or 'unspecified'}); {hint}",
                "type": "policy_violation",
                "code": f"{policy}_policy_violation",
                "policy": policy,
                "policy_version": version,
                "categories": categories,
                "rules": sorted({str(v.get("rule", "")) for v in decision.get("violations") or []}),
                "decision": _public_decision(decision),
            }
        },
    )


def _redact(text: str, redactions: list[Mapping[str, Any]]) -> str:
    """Replace each [start, end) span; overlapping spans merge so no fragment of a match survives
    between two replacements. A span outside the text raises ValueError (the caller blocks).
    Same rules as runtime/gateway/enforce.apply_redactions, which this module cannot import: the
    LiteLLM image carries runtime/ without the gateway's service dependencies."""
    spans: list[tuple[int, int, str]] = []
    for redaction in redactions:
        start, end = int(redaction["start"]), int(redaction["end"])
        if not 0 <= start < end <= len(text):
            raise ValueError("redaction span outside the text")
        spans.append((start, end, str(redaction.get("replacement") or "[REDACTED]")))
    merged: list[tuple[int, int, str]] = []
    for start, end, replacement in sorted(spans):
        if merged and start < merged[-1][1]:
            first, last, kept = merged[-1]
            merged[-1] = (first, max(last, end), kept)
        else:
            merged.append((start, end, replacement))
    out, position = [], 0
    for start, end, replacement in merged:
        out += [text[position:start], replacement]
        position = end
    out.append(text[position:])
    return "".join(out)
