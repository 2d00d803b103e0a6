"""Rules of the LiteLLM surface a schema cannot say: llmrouter strategies and their files, context
window fallbacks, and seed 002's moat mode (an air-gapped environment reaches no vendor cloud)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from compiler.errors import SpecError
from compiler.litellm_surface._from_litellm import LITELLM_VERSION
from compiler.litellm_surface.callbacks import is_cloud_only
from compiler.litellm_surface.router import (
    LLMROUTER_HINT,
    LLMROUTER_STRATEGIES,
    RoutingStrategyArgs,
    strategy_args_problems,
)
from compiler.load import KeyPath, SourceMap
from compiler.locality import host_locality, locality
from compiler.model import SpecDocument


def check(doc: SpecDocument, env_name: str, smap: SourceMap, root: Path) -> Iterator[SpecError]:
    yield from _router_rules(doc, smap, root)
    yield from _master_key(doc, smap)
    yield from _context_window_fallbacks(doc, smap)
    if doc.environments[env_name].air_gapped:
        yield from _air_gapped(doc, env_name, smap)


def _router_rules(doc: SpecDocument, smap: SourceMap, root: Path) -> Iterator[SpecError]:
    router = doc.router
    args = router.routing_strategy_args
    problems = [SpecError(smap.locate(("router", field)), f"router.{field}: {message}", hint)
                for field, message, hint in strategy_args_problems(router.routing_strategy, args)]
    problems += _strategy_paths(args, smap, root)
    yield from problems
    if router.routing_strategy in LLMROUTER_STRATEGIES and not problems:
        yield SpecError(smap.locate(("router", "routing_strategy")),
                        f"router.routing_strategy {router.routing_strategy!r}: LiteLLM {LITELLM_VERSION} refuses it "
                        "(Invalid routing_strategy), so this config loads only in a proxy with the LLMRouter "
                        "integration", LLMROUTER_HINT, "warning")


def _strategy_paths(args: RoutingStrategyArgs | None, smap: SourceMap, root: Path) -> list[SpecError]:
    """The llmrouter model and data: files of the repository, or absolute paths mounted at run time."""
    problems: list[SpecError] = []
    for key in ("model_path", "llm_data_path"):
        path = getattr(args, key) if args is not None else None
        if args is None or path is None:
            continue
        where = smap.locate(("router", "routing_strategy_args", key))
        if args.mounted and not path.startswith("/"):
            problems.append(SpecError(
                where, f"router.routing_strategy_args.{key} {path!r} is mounted but not absolute",
                "a mounted path is where the file is inside the proxy's container: start it with /"))
        elif not args.mounted and (path.startswith("/") or not (root / path).is_file()):
            problems.append(SpecError(
                where, f"router.routing_strategy_args.{key}: {path!r} is not a file in the repository",
                "give a path relative to the repository root, or set `mounted: true` when the file is mounted "
                "into the proxy at run time"))
    return problems


def _master_key(doc: SpecDocument, smap: SourceMap) -> Iterator[SpecError]:
    """The compiler writes general_settings.master_key from litellm.master_key_env (the gateway and
    compose use that name too): a second one would silently win in LiteLLM's config only."""
    if "master_key" in doc.litellm.general_settings.model_fields_set:
        yield SpecError(smap.locate(("litellm", "general_settings", "master_key"), key=True),
                        "litellm.general_settings.master_key would override litellm.master_key_env",
                        "remove it and name the variable in litellm.master_key_env")


def _context_window_fallbacks(doc: SpecDocument, smap: SourceMap) -> Iterator[SpecError]:
    names = {m.name for m in doc.models}
    for model, fallbacks in doc.router.context_window_fallbacks.items():
        base = ("router", "context_window_fallbacks", model)
        if model not in names:
            yield SpecError(smap.locate(base, key=True), f'context window fallback for unknown model "{model}"',
                            _known(names))
        for i, fallback in enumerate(fallbacks):
            if fallback not in names or fallback == model:
                yield SpecError(smap.locate((*base, i)), f'model "{model}" falls back on a long context to '
                                + ("itself" if fallback == model else f'unknown model "{fallback}"'), _known(names))


def _known(names: set[str]) -> str:
    return "known models: " + ", ".join(sorted(names))


def _air_gapped(doc: SpecDocument, env_name: str, smap: SourceMap) -> Iterator[SpecError]:
    marker = smap.locate(("environments", env_name, "air_gapped"))
    settings = doc.litellm.settings
    for field in ("callbacks", "success_callback", "failure_callback", "service_callback"):
        for i, name in enumerate(getattr(settings, field) or ()):
            if is_cloud_only(name):
                yield SpecError(smap.locate(("litellm", "settings", field, i)),
                                f'callback "{name}" sends data to a vendor cloud, and environment "{env_name}" is '
                                f"air-gapped ({marker})",
                                "use a self-hosted one (prometheus, otel to your collector, self-hosted langfuse) "
                                "or set it only for environments that are not air-gapped (overrides)")
    for i, model in enumerate(doc.models):
        backend = doc.backends.get(model.backend)
        if backend is not None and locality(backend) == "external":
            host = urlsplit(backend.base_url).hostname
            yield SpecError(smap.locate(("models", i, "backend")),
                            f'model "{model.name}" runs on backend "{model.backend}" ({host}), outside the network, '
                            f'and environment "{env_name}" is air-gapped ({marker})',
                            "serve it from a backend inside the network (a self-hosted server, a VPC endpoint with "
                            "`locality: private`), or leave the model out of this environment")
    urls: list[tuple[KeyPath, str]] = [(("mcp_servers", n, "url"), s.url) for n, s in doc.mcp_servers.items()]
    urls += [(("agents", n, "url"), a.url) for n, a in doc.agents.items()]
    hosts = [(path, urlsplit(url).hostname or "") for path, url in urls]
    if doc.router.redis_host:
        hosts.append((("router", "redis_host"), doc.router.redis_host))
    cache = settings.cache_params
    if cache is not None and isinstance(cache.host, str) and not cache.host.startswith("os.environ/"):
        hosts.append((("litellm", "settings", "cache_params", "host"), cache.host))
    for path, host in hosts:
        if host_locality(host) == "external":
            yield SpecError(smap.locate(path), f'{".".join(map(str, path))} reaches "{host}" outside the network, '
                            f'and environment "{env_name}" is air-gapped ({marker})',
                            "use a host inside the network (a service name, *.internal, *.svc, a private address)")
