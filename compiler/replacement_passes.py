"""A strings.replace_n table split into passes that OPA's two engines apply alike.

OPA's Go engine applies a table at once (Go's strings.Replacer: leftmost match first, keys tried
in sorted order, no overlaps); its WebAssembly target (wasm/src/strings.c, opa_strings_replace_n)
replaces one key after the other, in its hash buckets' order, each over the previous result. On
"ignore" with the keys "ignore" and "no", Go writes "\\x01gnore" and the module "ig\\x01ore".
Both agree when no two keys of a table can touch in any text: neither holds the other, no end
of one is the start of another, and no replacement holds a key. Each pass here is such a table;
the passes run in order, tables whose keys hold others first, so a longer key is replaced before
the shorter ones it holds (rego/lib/detect.rego, replaced()).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["MAX_PASSES", "apply", "passes"]

# detect.rego's replaced() has a rule for each number of passes up to this one (Rego has no loop
# over a list to fold): a table of n passes costs n calls, an empty table none.
MAX_PASSES = 8


def passes(table: Mapping[str, str]) -> list[dict[str, str]]:
    """table as passes of keys that cannot touch; longer keys in earlier passes."""
    out: list[dict[str, str]] = []
    for key in sorted(table, key=lambda k: (-len(k), k)):
        # after every pass holding a key that holds it: "no" is replaced after "ignore", not before
        at = max((i + 1 for i, p in enumerate(out) if any(key in o for o in p)), default=0)
        fit = next((p for p in out[at:] if not any(_touch(key, table[key], o, p[o]) for o in p)), None)
        if fit is None:
            fit = {}
            out.append(fit)
        fit[key] = table[key]
    if len(out) > MAX_PASSES:  # pragma: no cover - the compiler's own tables need at most 6
        raise ValueError(f"a replacement table needs {len(out)} passes, more than {MAX_PASSES}")
    return [dict(sorted(p.items())) for p in out]


def apply(table_passes: Sequence[Mapping[str, str]], text: str) -> str:
    """text as both engines write it: each pass's keys replaced, in any order, pass after pass."""
    for table in table_passes:
        for key, value in table.items():
            text = text.replace(key, value)
    return text


def _touch(a: str, a_value: str, b: str, b_value: str) -> bool:
    """Can a and b be replaced differently one after the other than at once, in some text?"""
    if a in b or b in a or a in b_value or b in a_value:
        return True
    return any(_overlap(x, y) for x, y in ((a, b), (b, a), (a_value, b), (b_value, a), (b, a_value), (a, b_value)))


def _overlap(first: str, second: str) -> bool:
    """Does an end of first start second (the two would share characters in a text)?"""
    return any(first.endswith(second[:n]) for n in range(1, min(len(first), len(second))))
