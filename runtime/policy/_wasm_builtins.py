"""The Rego builtins OPA's WebAssembly target leaves to the host, implemented once here with the
semantics of OPA's Go engine (v1/topdown of OPA 1.20.2), so that both engines decide alike.

`opa build -t wasm` compiles most builtins into the module; the ones it cannot (Go's regexp, Go's
URL and hex decoding, rune-indexed searches, Go's fmt) are imports the module calls back into the
host for. A policy whose module needs a builtin that is not here fails to load (missing()), it is
never left to fail on the first request that reaches it.

Where Go's behaviour is subtle it is copied, not approximated:
- regexes are RE2 (google-re2: the C++ library Go's regexp was written after), iterated as Go's
  FindAll and ReplaceAll do: an empty match right after a match is skipped, `${1}` templates
  expand as regexp.Expand does;
- positions and counts are in code points, as OPA's rune-based builtins count them;
- bytes that are not UTF-8 (hex and URL decoding) become one U+FFFD each, as Go reads them.
"""

from __future__ import annotations

import codecs
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

import re2  # type: ignore[import-untyped]

__all__ = ["HOST_BUILTINS", "BuiltinError", "missing", "read_strings_as_go_does"]


class BuiltinError(Exception):
    """The builtin's operands are ones OPA's Go engine refuses too (the evaluation fails)."""


def _per_byte_replacement(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    return "\ufffd" * (exc.end - exc.start), exc.end


codecs.register_error("gateway-go-utf8", _per_byte_replacement)


def _go_string(raw: bytes) -> str:
    """raw read as Go reads a string: every byte that is not part of valid UTF-8 is one U+FFFD."""
    return raw.decode("utf-8", "gateway-go-utf8")


def _options() -> Any:
    options = re2.Options()
    # Go's regexp has no memory budget; RE2's default (8 MiB) refuses the policies' phrase
    # alternations, which OPA compiles. The budget stays bounded all the same.
    options.max_mem = 256 << 20
    options.log_errors = False
    return options


_OPTIONS = _options()


def read_strings_as_go_does() -> None:
    """Let opa-py-wasm read values whose strings hold bytes that are not UTF-8 (base64.decode's
    output, native in the module) as Go does: one U+FFFD per such byte. Its codec parses every
    value the module hands over (builtin operands, the decision) with json.loads, which refuses
    them, where OPA's Go engine goes on with the bytes; only that failing case is read anew."""
    from opapywasm import OpaMemoryError, memory

    codec = memory.MemoryCodec
    if getattr(codec, "_gateway_go_strings", False):
        return
    strict = codec.read_json_cstring

    def read_json_cstring(self: Any, addr: int, *, limit: int | None = None, kind: str = "result") -> Any:
        try:
            return strict(self, addr, limit=limit, kind=kind)
        except OpaMemoryError:
            raw = self.read_cstring(addr)
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return json.loads(_go_string(raw))
            raise

    setattr(codec, "read_json_cstring", read_json_cstring)  # noqa: B010 - mypy: no method assignment
    setattr(codec, "_gateway_go_strings", True)  # noqa: B010


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise BuiltinError(f"invalid regular expression {pattern[:60]!r}…: {exc}") from None


def _find_all(pattern: str, text: str, n: int) -> Iterator[Any]:
    """Go's Regexp.allMatches: successive matches, an empty one abutting the previous skipped."""
    regex = _compiled(pattern)
    limit = len(text) + 1 if n < 0 else n
    pos, found, previous_end = 0, 0, -1
    while found < limit and pos <= len(text):
        match = regex.search(text, pos)
        if match is None:
            return
        start, end = match.span()
        accept = not (end == start == previous_end)
        pos = pos + 1 if end == pos else end  # an empty match: move on one code point
        previous_end = end
        if accept:
            found += 1
            yield match


def regex_find_n(pattern: str, text: str, n: int) -> list[str]:
    return [m.group(0) for m in _find_all(pattern, text, n)]


def regex_replace(text: str, pattern: str, template: str) -> str:
    out: list[str] = []
    last = 0
    for match in _find_all(pattern, text, -1):
        out.append(text[last : match.start()])
        out.append(_expand(template, match))
        last = match.end()
    out.append(text[last:])
    return "".join(out)


def _expand(template: str, match: Any) -> str:
    """Go's Regexp.Expand: $name or ${name} (a number is a group index), $$ is a dollar, a
    reference to a group that did not take part or does not exist is empty, a malformed one is
    literal text."""
    out: list[str] = []
    i = 0
    while True:
        dollar = template.find("$", i)
        if dollar < 0:
            out.append(template[i:])
            return "".join(out)
        out.append(template[i:dollar])
        rest = template[dollar + 1 :]
        if rest.startswith("$"):
            out.append("$")
            i = dollar + 2
            continue
        name, consumed = _template_name(rest)
        if not name:
            out.append("$")
            i = dollar + 1
            continue
        i = dollar + 1 + consumed
        out.append(_group(match, name))


def _template_name(rest: str) -> tuple[str, int]:
    braced = rest.startswith("{")
    body = rest[1:] if braced else rest
    end = 0
    while end < len(body) and (body[end].isascii() and (body[end].isalnum() or body[end] == "_")):
        end += 1
    if end == 0 or (braced and (end >= len(body) or body[end] != "}")):
        return "", 0
    return body[:end], end + 2 if braced else end


def _group(match: Any, name: str) -> str:
    if name.isdigit():
        index = int(name)
        if index > match.re.groups:
            return ""
        return match.group(index) or ""
    if name not in match.re.groupindex:
        return ""
    return match.group(name) or ""


def indexof_n(text: str, search: str) -> list[int]:
    if not search:
        raise BuiltinError("indexof_n: empty search character")
    out: list[int] = []
    at = text.find(search)
    while at >= 0:
        out.append(at)
        at = text.find(search, at + 1)
    return out


def strings_count(text: str, search: str) -> int:
    return text.count(search)


_HEX = "0123456789abcdefABCDEF"


def hex_decode(text: str) -> str:
    if len(text) % 2 or any(c not in _HEX for c in text):
        raise BuiltinError("hex.decode: invalid hex string")
    return _go_string(bytes.fromhex(text))


def urlquery_decode(text: str) -> str:
    """Go's url.QueryUnescape: + is a space, %XX a byte, any other % an error."""
    raw = text.encode("utf-8")
    out = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x25:  # %
            pair = raw[i + 1 : i + 3]
            if len(pair) < 2 or any(chr(b) not in _HEX for b in pair):
                raise BuiltinError("urlquery.decode: invalid URL escape")
            out.append(int(pair, 16))
            i += 3
            continue
        out.append(0x20 if byte == 0x2B else byte)
        i += 1
    return _go_string(bytes(out))


def sprintf(template: str, operands: list[Any]) -> str:
    """Go's fmt.Sprintf for the verbs a policy uses on OPA values: %s and %v of strings and
    numbers, %d of integers, %%. Anything else is refused, not guessed."""
    if not isinstance(operands, list):
        raise BuiltinError("sprintf: operands must be an array")
    out: list[str] = []
    args = iter(operands)
    i = 0
    while True:
        at = template.find("%", i)
        if at < 0 or at + 1 >= len(template):
            out.append(template[i:])
            return "".join(out)
        out.append(template[i:at])
        verb = template[at + 1]
        i = at + 2
        if verb == "%":
            out.append("%")
            continue
        value = next(args, _MISSING)
        out.append(_format(verb, value))


_MISSING = object()


def _format(verb: str, value: Any) -> str:
    if value is _MISSING:
        return f"%!{verb}(MISSING)"
    if verb in "sv" and isinstance(value, str):
        return value
    if verb in "dv" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise BuiltinError(f"sprintf: %{verb} of {type(value).__name__} is not supported by the host builtins")


HOST_BUILTINS: dict[str, Callable[..., Any]] = {
    "hex.decode": hex_decode,
    "indexof_n": indexof_n,
    "regex.find_n": regex_find_n,
    "regex.replace": regex_replace,
    "sprintf": sprintf,
    "strings.count": strings_count,
    "urlquery.decode": urlquery_decode,
}


def missing(required: dict[str, int]) -> list[str]:
    """The builtins a module requires from the host that are not implemented here."""
    return sorted(set(required) - set(HOST_BUILTINS))
