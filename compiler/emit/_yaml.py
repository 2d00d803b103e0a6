"""The one YAML writer every artifact goes through: same indentation and quoting everywhere.

Reading keeps ruamel (it gives line:column for errors); writing uses PyYAML's libyaml emitter,
measured ~18x faster than ruamel's pure-Python one on a 1,000-model LiteLLM config (see
docs/benchmarks.md). Its YAML 1.1 quoting also protects values such as "22:22" that older
parsers would read as base-60 numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def dump_yaml(data: Mapping[str, Any]) -> str:
    text: str = yaml.dump(_plain(data), Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                          allow_unicode=True, width=4096)
    return text
