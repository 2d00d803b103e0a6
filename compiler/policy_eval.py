"""`gatewayctl policy eval` and `gatewayctl explain`: one decision of the compiled policies of an
environment, for a machine (JSON) or for people (which rule, where, the match masked).

The bundle is compiled from the current specs and rego/ in memory and loaded by the same
runtime.policy.PolicyStore the gateway uses, so what this prints is what the gateway decides.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compiler.errors import Position, SpecError, SpecErrors

__all__ = ["evaluate", "explain", "mask", "read_input"]


def evaluate(root: Path, env_name: str, policy: str, input: Mapping[str, Any]) -> dict[str, Any]:
    from compiler.emit.opa_bundle import bundle_files
    from compiler.load import load_specs
    from compiler.plan import build_plan
    from compiler.validate import validate
    from runtime.policy import PolicyStore

    # The lock is for commits; a policy being edited must still be evaluable.
    plan = build_plan(validate(load_specs(root), check_lock=False))
    env = next((e for e in plan.environments if e.name == env_name), None)
    if env is None:
        known = ", ".join(e.name for e in plan.environments)
        raise ValueError(f"unknown environment {env_name!r} (known: {known})")
    with tempfile.TemporaryDirectory(prefix="gatewayctl-bundle-") as tmp:
        for path, content in bundle_files(env).items():
            target = Path(tmp, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        return PolicyStore(tmp).evaluate(policy, input)  # type: ignore[arg-type]


def read_input(raw: str, source: str, policy: str) -> dict[str, Any]:
    """The policy's input document from what a person gives: a chat-completions request (read by
    the gateway's own endpoint readers), {"text": "..."} (one text), or the policy's input itself
    ({"texts": [...]}, docs/architecture.md)."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SpecErrors([SpecError(Position(source, exc.lineno, exc.colno), f"not JSON: {exc.msg}",
                                    _INPUT_HINT)]) from None
    if not isinstance(value, dict) or not any(key in value for key in ("messages", "text", "texts")):
        raise SpecErrors([SpecError(Position(source), "expected a JSON object with `messages`, `text` or `texts`",
                                    _INPUT_HINT)])
    if "texts" in value:
        return value
    model = {"model": value["model"]} if isinstance(value.get("model"), str) else {}
    if "text" in value:
        return {**model, "texts": [{"field": "text", "role": "user", "text": str(value["text"])}]}
    if policy == "output":
        raise SpecErrors([SpecError(Position(source), "the output policy reads an answer's text, not a request",
                                    'pass {"text": "<the answer>"}, or use --policy prompt')])
    from runtime.endpoints import ENDPOINTS, prompt_input

    return prompt_input(ENDPOINTS["chat"], value)


_INPUT_HINT = 'give a chat-completions request, {"text": "..."} or the policy input {"texts": [...]}'


def explain(decision: Mapping[str, Any], input: Mapping[str, Any], policy: str) -> str:
    """The decision for people: verdict, then one block per violation with the match masked."""
    mode = decision["mode"]
    if decision["allow"]:
        verdict = "allowed"
    elif decision.get("redactions"):
        verdict = "to be delivered redacted"
    else:
        verdict = "blocked"
    if mode == "off":
        return f"{policy} policy {decision['policy_version']}: off (not evaluated)\n"
    violations = decision["violations"]
    out = [f"{policy} policy {decision['policy_version']} ({mode}): {verdict}, "
           f"{len(violations)} violation{'s' if len(violations) != 1 else ''}"]
    if decision.get("redactions"):
        out[0] += f", {len(decision['redactions'])} span(s) to mask"
    spans: dict[str, list[tuple[int, int]]] = {}
    for v in violations:
        where = v.get("where", {})
        if "start" in where:
            spans.setdefault(str(where["field"]), []).append((int(where["start"]), int(where["end"])))
    for v in violations:
        where = v.get("where", {})
        out.append(f"- {v['rule']} [{v['category']}, {v['severity']}]: {v['message']}")
        if "start" in where:
            text = _field_text(input, str(where["field"]))
            out.append(f"    at {where['field']}[{where['start']}:{where['end']}]: "
                       f"{_context(text, int(where['start']), int(where['end']), spans[str(where['field'])])}")
        else:
            details = ", ".join(f"{k}={where[k]}" for k in sorted(where) if k != "field")
            out.append(f"    at {where.get('field', '?')}: {details}")
    return "\n".join(out) + "\n"


def mask(secret: str) -> str:
    """Keep the first and last character of a match and hide the rest, so a person can tell which
    value it was without the output repeating it."""
    if len(secret) <= 4:
        return "*" * len(secret)
    return secret[0] + "*" * (len(secret) - 2) + secret[-1]


def _context(text: str | None, start: int, end: int, others: list[tuple[int, int]], width: int = 24) -> str:
    """The match, masked and marked «…», with some text around it; other matches in that text
    are masked too, so no sensitive value shows up as another one's context."""
    if text is None or not 0 <= start < end <= len(text):
        return "(text not available)"
    chars = list(text)
    for s, e in others:
        if 0 <= s < e <= len(text):
            chars[s:e] = list(mask(text[s:e]))
    masked = "".join(chars)
    shown = ("…" if start > width else "") + masked[max(0, start - width):start] + "«" + masked[start:end] + "»" \
        + masked[end:end + width] + ("…" if end + width < len(text) else "")
    return json.dumps(shown, ensure_ascii=False)


def _field_text(input: Mapping[str, Any], field: str) -> str | None:
    """The text a `where.field` names, from the policy input's texts."""
    return next((t["text"] for t in input.get("texts", []) if t.get("field") == field), None)
