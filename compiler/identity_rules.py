"""Rules for teams and keys a schema cannot say: a key's value is an os.environ/NAME reference and
no two keys share one; its team and the models of both exist; a key asks for no model its team
may not use; a budget_duration parses as LiteLLM parses it."""

from __future__ import annotations

import re
from collections.abc import Iterator

from compiler.errors import SpecError, suggest
from compiler.load import SourceMap
from compiler.model import SpecDocument
from compiler.model.identity import Allowance

ENV_REF = re.compile(r"^os\.environ/([A-Z][A-Z0-9_]*)$")
# litellm/litellm_core_utils/duration_parser.py: a number and s, m, h, d, w or mo
_DURATION = re.compile(r"^[1-9]\d*(s|m|h|d|w|mo)$")


def check(doc: SpecDocument, smap: SourceMap) -> Iterator[SpecError]:
    models = {m.name for m in doc.models}
    for name, team in doc.teams.items():
        yield from _allowance(("teams", name), team, models, smap)
    owners: dict[str, str] = {}
    for name, key in doc.keys.items():
        base = ("keys", name)
        yield from _allowance(base, key, models, smap)
        ref = ENV_REF.match(key.key)
        if ref is None:
            # never quote the value: it may be a real key
            yield SpecError(smap.locate((*base, "key")), f'key "{name}" holds a literal value, not a reference',
                            f"write `key: os.environ/{_env_name(name)}` and set {_env_name(name)} in the "
                            "environment of the gateway and of LiteLLM")
        elif ref.group(1) in owners:
            yield SpecError(smap.locate((*base, "key")),
                            f'key "{name}" reads the same variable {ref.group(1)} as key "{owners[ref.group(1)]}"',
                            "give each key its own variable: one value cannot be two identities")
        else:
            owners[ref.group(1)] = name
        if key.team is None:
            continue
        key_team = doc.teams.get(key.team)
        if key_team is None:
            yield SpecError(smap.locate((*base, "team")), f'key "{name}" belongs to unknown team "{key.team}"',
                            suggest(key.team, doc.teams))
            continue
        for i, model in enumerate(key.models):
            if key_team.models and model in models and model not in key_team.models:
                yield SpecError(smap.locate((*base, "models", i)),
                                f'key "{name}" may call "{model}", which its team "{key.team}" may not',
                                f"add it to teams.{key.team}.models or remove it here")


def _allowance(base: tuple[str, ...], allowance: Allowance, models: set[str], smap: SourceMap) -> Iterator[SpecError]:
    what = f'{"team" if base[0] == "teams" else "key"} "{base[1]}"'
    for i, model in enumerate(allowance.models):
        if model not in models:
            yield SpecError(smap.locate((*base, "models", i)), f'{what} names unknown model "{model}"',
                            suggest(model, models))
    duration = allowance.budget_duration
    if duration is not None and not _DURATION.match(duration):
        yield SpecError(smap.locate((*base, "budget_duration")),
                        f"{what}: budget_duration {duration!r} is not a duration",
                        "write a number and a unit: 30s, 10m, 24h, 30d, 1w or 1mo")
    if duration is not None and allowance.max_budget is None:
        yield SpecError(smap.locate((*base, "budget_duration")), f"{what} resets a budget it does not have",
                        "add max_budget, or remove budget_duration", "warning")


def _env_name(key_name: str) -> str:
    return "GATEWAY_KEY_" + re.sub(r"[^A-Z0-9]", "_", key_name.upper())
