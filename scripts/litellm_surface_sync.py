"""Write compiler/litellm_surface/_from_litellm.py from the installed LiteLLM's own types.

The compiler must not import LiteLLM (`gatewayctl validate` stays fast), so the names LiteLLM
accepts are copied here once per LiteLLM upgrade: `python scripts/litellm_surface_sync.py`.
tests/compiler/test_litellm_surface_sync.py fails when the file differs from what this writes.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
import types
import typing
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "compiler" / "litellm_surface" / "_from_litellm.py"


def _names(values: typing.Iterable[str]) -> str:
    body = "".join(f"    {json.dumps(v)},\n" for v in sorted(set(values)))
    return "frozenset({\n" + body + "})"


def _found(paths: typing.Iterable[Path], pattern: str) -> set[str]:
    regex = re.compile(pattern)
    return {m for path in sorted(paths) for m in regex.findall(path.read_text(encoding="utf-8"))}


def _read_by_name(package: Path, section: str) -> set[str]:
    """Keys LiteLLM reads from a settings section by name (`general_settings.get("x")`)."""
    return _found(package.rglob("*.py"), r'\b_?' + section + r'(?:\.get\(\s*|\[)"([a-z_0-9]+)"')


def render() -> str:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # offline: the cost map shipped with it
    import litellm
    from litellm.caching.caching import Cache
    from litellm.proxy import proxy_server
    from litellm.proxy._types import ConfigGeneralSettings
    from litellm.router_utils.routing_groups import VALID_ROUTING_STRATEGIES
    from litellm.types.caching import CachingSupportedCallTypes, LiteLLMCacheType
    from litellm.types.router import GenericLiteLLMParams

    package = Path(litellm.__file__).parent
    general_read = _read_by_name(package, "general_settings")
    settings_read = _read_by_name(package, "litellm_settings")
    # Callbacks the proxy and the logging core resolve by name (`callback == "x"`).
    string_callbacks = _found([package / "proxy" / "common_utils" / "callback_utils.py",
                               package / "litellm_core_utils" / "litellm_logging.py"], r'callback == "([a-z_0-9]+)"')
    router_args = set(litellm.Router.get_valid_args()) - set(proxy_server.ROUTER_SETTINGS_MANAGED_OUTSIDE_CONFIG)
    # litellm_settings: the proxy sets litellm.<key> = value for every key it has no branch for,
    # so the module's public, non-callable attributes are what it can take.
    module_settings = {
        name for name, value in vars(litellm).items()
        if re.fullmatch(r"[a-z][a-z0-9_]*", name) and not callable(value) and not isinstance(value, types.ModuleType)
    }
    # Flags the module does not define but LiteLLM looks up with a default (`getattr(litellm, "x", False)`).
    module_lookups = _found(package.rglob("*.py"), r'getattr\(\s*litellm,\s*"([a-z][a-z_0-9]*)"')
    callbacks = set(typing.get_args(litellm._custom_logger_compatible_callbacks_literal))
    cache_params = set(inspect.signature(Cache.__init__).parameters) - {"self", "kwargs", "_backend"}
    version = getattr(litellm, "__version__", None) or __import__("importlib.metadata").metadata.version("litellm")
    return (
        '"""Names the pinned LiteLLM accepts, copied from its own types by scripts/litellm_surface_sync.py.\n\n'
        "DO NOT EDIT: rerun the script after upgrading LiteLLM.\n"
        '"""\n\n'
        f"LITELLM_VERSION = {json.dumps(version)}\n\n"
        "# litellm.Router.get_valid_args() less ROUTER_SETTINGS_MANAGED_OUTSIDE_CONFIG (proxy_server.py)\n"
        f"ROUTER_ARGS = {_names(router_args)}\n\n"
        "# litellm.router_utils.routing_groups.VALID_ROUTING_STRATEGIES (what the Router accepts)\n"
        f"ROUTING_STRATEGIES = {_names(VALID_ROUTING_STRATEGIES)}\n\n"
        "# litellm.types.router.GenericLiteLLMParams fields (what a model_list entry's litellm_params take)\n"
        f"LITELLM_PARAMS = {_names(GenericLiteLLMParams.model_fields)}\n\n"
        "# litellm.proxy._types.ConfigGeneralSettings fields, and the keys litellm/proxy reads by name\n"
        f"GENERAL_SETTINGS = {_names(set(ConfigGeneralSettings.model_fields) | general_read)}\n\n"
        "# public non-callable snake_case attributes of the litellm module (litellm_settings keys become\n"
        "# litellm.<key>), the ones it looks up with getattr(litellm, ...), and the keys litellm reads from\n"
        "# litellm_settings by name\n"
        f"MODULE_SETTINGS = {_names(module_settings | module_lookups | settings_read)}\n\n"
        "# litellm.caching.caching.Cache.__init__ parameters (litellm_settings.cache_params)\n"
        f"CACHE_PARAMS = {_names(cache_params)}\n\n"
        f"CACHE_TYPES = {_names(t.value for t in LiteLLMCacheType)}\n\n"
        f"CACHE_CALL_TYPES = {_names(typing.get_args(CachingSupportedCallTypes))}\n\n"
        "# litellm._custom_logger_compatible_callbacks_literal\n"
        f"LOGGER_CALLBACKS = {_names(callbacks)}\n\n"
        "# callbacks proxy/common_utils/callback_utils.py and litellm_core_utils/litellm_logging.py resolve by name\n"
        f"STRING_CALLBACKS = {_names(string_callbacks)}\n"
    )


def main() -> int:
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
