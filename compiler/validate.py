"""Rules a schema cannot say: references, the port registry, production invariants, secrets.

`validate(loaded)` type-checks the base document and every environment's overlaid document, then
runs the rules on each; all problems of all environments are reported together.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from compiler import bundle_trust, compose_check, identity_rules, litellm_rules, observability, policy_versions, sizing
from compiler.deploy_plan import deployment_plan, redis_plan
from compiler.endpoints import (
    BATCH_CAPABILITIES,
    ENDPOINTS,
    IN_PROXY_UNCHECKED,
    exposed_endpoints,
    model_capabilities,
    served_capabilities,
)
from compiler.errors import Position, SpecError, SpecErrors
from compiler.errors import suggest as _suggest
from compiler.exposure import BEHIND_GATEWAY, is_loopback, published
from compiler.litellm_surface.secrets import literal_secrets
from compiler.load import KeyPath, LoadedSpecs, SourceMap
from compiler.locality import locality
from compiler.model import SpecDocument
from compiler.overlay import deep_merge, overlay_positions
from compiler.ports import claims
from compiler.typecheck import check_document

# Sections that hold for every environment at once, with what to do instead of overriding them.
REPOSITORY_WIDE = {
    "environments": "set sea_env, enable_policy_gateway and fail_mode on the environment itself",
    "compose_scan": "the compose scan covers the whole repository; set compose_scan at the top level",
}


@dataclass(frozen=True)
class EnvSpec:
    """One environment's fully overlaid document and where each of its values was written."""

    name: str
    document: SpecDocument
    source_map: SourceMap
    overlay_map: SourceMap  # positions that come from this environment's overrides


@dataclass(frozen=True)
class ValidatedSpec:
    loaded: LoadedSpecs
    environments: tuple[EnvSpec, ...]
    warnings: tuple[SpecError, ...]


def validate(loaded: LoadedSpecs, *, check_lock: bool = True) -> ValidatedSpec:
    smap = loaded.source_map
    base, problems = check_document(loaded.document, smap)
    envs: list[EnvSpec] = []
    raw_envs = loaded.document.get("environments")
    for env_name, raw_env in (raw_envs or {}).items():
        overrides = raw_env.get("overrides") if isinstance(raw_env, dict) else None
        if not isinstance(overrides, dict) or not overrides:
            if base is not None:
                envs.append(EnvSpec(env_name, base, smap, SourceMap()))
            continue
        overlay_map = smap.rebased(("environments", env_name, "overrides"))
        fixed = [(section, hint) for section, hint in REPOSITORY_WIDE.items() if section in overrides]
        if fixed:
            problems += [SpecError(overlay_map.locate((section,), key=True),
                                   f"an environment's overrides cannot change `{section}`", hint)
                         for section, hint in fixed]
            continue
        merged = deep_merge(loaded.document, overrides)
        overlay_map = overlay_positions(loaded.document, overrides, overlay_map)
        env_map = smap.overlaid(overlay_map)
        doc, env_problems = check_document(merged, env_map)
        problems += env_problems
        if doc is not None:
            envs.append(EnvSpec(env_name, doc, env_map, overlay_map))
    # Every value, overlays included, before any rule: a secret is an error wherever it is written.
    problems += literal_secrets(loaded.document, smap)
    if base is None:  # a required value is wrong: the rules would check a spec nobody wrote
        raise SpecErrors(problems)
    for env in envs:
        problems += _rules(env)
        problems += litellm_rules.check(env.document, env.name, env.source_map, loaded.root)
    problems += compose_check.check(loaded.root, [(e.document, e.source_map) for e in envs], base.compose_scan)
    problems += policy_versions.check(loaded, envs, with_lock=check_lock)
    problems += bundle_trust.check(loaded.root, envs)
    if any(p.severity == "error" for p in problems):
        raise SpecErrors(problems)
    # Advice rather than problems: given once the specs are valid, so they never precede an error.
    problems += [w for e in envs
                 for w in observability.missing_in_production(e.name, e.document.environments[e.name], e.source_map)]
    problems += [w for e in envs for w in _admission_per_replica(e)]
    return ValidatedSpec(loaded, tuple(envs), tuple(sorted(set(problems), key=SpecError.sort_key)))


def _rules(env: EnvSpec) -> Iterator[SpecError]:
    yield from _service_references(env)
    yield from _port_registry(env)
    yield from _routing_targets(env)
    yield from _backend_rules(env)
    yield from _model_rules(env)
    yield from _endpoint_rules(env)
    yield from _files_backend_rules(env)
    yield from _policy_rules(env)
    yield from _production_invariants(env)
    yield from _exposure_rules(env)
    yield from _fallback_locality_rules(env)
    yield from _fallbacks_outside_models(env)
    yield from _ingress_sizing(env)
    yield from identity_rules.check(env.document, env.source_map)
    yield from observability.check(env.name, env.document.environments[env.name], env.source_map)


def _in_env(env: EnvSpec, *positions: Position) -> str:
    """Say which environment a problem belongs to when an overlay caused it."""
    from_overlay = set(env.overlay_map.values.values())
    return f' in environment "{env.name}"' if any(p in from_overlay for p in positions) else ""


def _service_references(env: EnvSpec) -> Iterator[SpecError]:
    doc, smap = env.document, env.source_map
    roles: dict[str, str] = {}
    for name, svc in doc.services.items():
        for i, dep in enumerate(svc.depends_on):
            where = smap.locate(("services", name, "depends_on", i))
            if dep == name:
                yield SpecError(where, f'service "{name}" depends on itself', "remove it from depends_on")
            elif dep not in doc.services:
                yield SpecError(where, f'service "{name}" depends on unknown service "{dep}"',
                                _suggest(dep, doc.services))
        if svc.role != "other":
            if svc.role in roles:
                yield SpecError(smap.locate(("services", name, "role")),
                                f'role "{svc.role}" is already taken by service "{roles[svc.role]}"',
                                "each role names one service")
            roles.setdefault(svc.role, name)
    cycle = _find_cycle({n: [d for d in s.depends_on if d in doc.services] for n, s in doc.services.items()})
    if cycle:
        yield SpecError(smap.locate(("services", cycle[0], "depends_on")),
                        "services depend on each other in a cycle: " + " -> ".join(cycle),
                        "break the cycle; compose cannot start such services")


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def _port_registry(env: EnvSpec) -> Iterator[SpecError]:
    doc, smap = env.document, env.source_map
    owners: dict[int, tuple[str, Position]] = {}
    for claim in claims(doc):
        where = smap.locate(claim.path)
        if claim.host_port in owners:
            owner, first = owners[claim.host_port]
            yield SpecError(where, f'port {claim.host_port} is already taken by service "{owner}" ({first})'
                            + _in_env(env, where, first),
                            "pick a free port; `gatewayctl ports` lists the registry")
        else:
            owners[claim.host_port] = (claim.service, where)
        if claim.host_port < 1024:
            yield SpecError(where, f"port {claim.host_port} of service \"{claim.service}\" is privileged (< 1024)",
                            "binding it needs root or CAP_NET_BIND_SERVICE; prefer a port >= 1024", "warning")
    for name, svc in doc.services.items():
        seen: dict[int, str] = {}
        mapping: list[tuple[str, int, tuple[str | int, ...]]] = [
            ("main", svc.container_port or svc.port, ("services", name, "container_port"))]
        mapping += [(e.name, e.container_port or e.port, ("services", name, "extra_ports", i))
                    for i, e in enumerate(svc.extra_ports)]
        for port_name, cport, path in mapping:
            if cport in seen:
                yield SpecError(smap.locate(path),
                                f'container port {cport} is used twice in service "{name}" '
                                f"({seen[cport]} and {port_name})",
                                "give each port of a service its own container_port")
            seen.setdefault(cport, port_name)


def _routing_targets(env: EnvSpec) -> Iterator[SpecError]:
    doc, smap = env.document, env.source_map
    for field_name, role in (("policy_gateway_url", "policy-gateway"), ("llm_provider_url", "llm-provider")):
        url = urlsplit(getattr(doc.routing, field_name))
        where = smap.locate(("routing", field_name))
        host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
        svc = doc.services.get(host)
        if svc is None:
            yield SpecError(where, f'routing.{field_name} points at host "{host}", which is not a service',
                            _suggest(host, doc.services), "warning")
            continue
        listen = svc.container_port or svc.port
        if port != listen:
            listen_at = smap.locate(("services", host, "container_port" if svc.container_port else "port"))
            yield SpecError(where, f'routing.{field_name} uses port {port} but service "{host}" listens on {listen}'
                            + _in_env(env, where, listen_at), f"use http://{host}:{listen}{url.path}")
        if svc.role != role:
            yield SpecError(where, f'routing.{field_name} points at "{host}", whose role is "{svc.role}"',
                            f"point it at the service with role {role}")


def _backend_rules(env: EnvSpec) -> Iterator[SpecError]:
    doc, smap = env.document, env.source_map
    names: dict[str, str] = {b: b for b in doc.backends}
    for name, backend in doc.backends.items():
        for cap in backend.concurrency:
            if cap not in backend.capabilities:
                yield SpecError(smap.locate(("backends", name, "concurrency", cap), key=True),
                                f'backend "{name}" has a concurrency limit for "{cap}" but does not support it',
                                "add it to capabilities or remove the limit")
        for i, legacy in enumerate(backend.legacy_names):
            if legacy in names:
                yield SpecError(smap.locate(("backends", name, "legacy_names", i)),
                                f'legacy name "{legacy}" already names backend "{names[legacy]}"',
                                "a legacy name must map to exactly one backend")
            names.setdefault(legacy, name)


def _model_rules(env: EnvSpec) -> Iterator[SpecError]:
    doc, smap = env.document, env.source_map
    seen: dict[str, Position] = {}
    legacy = {alias: name for name, b in doc.backends.items() for alias in b.legacy_names}
    model_names = {m.name for m in doc.models}
    capability_of = {m.name: m.capability for m in reversed(doc.models)}
    for i, model in enumerate(doc.models):
        base = ("models", i)
        where = smap.locate((*base, "name"))
        if model.name in seen:
            yield SpecError(where, f'model "{model.name}" is defined twice (first at {seen[model.name]})',
                            "model names must be unique")
        seen.setdefault(model.name, where)
        backend = doc.backends.get(model.backend)
        if backend is None and model.backend in legacy:
            yield SpecError(smap.locate((*base, "backend")),
                            f'model "{model.name}" uses legacy backend name "{model.backend}"',
                            f'write "{legacy[model.backend]}"', "warning")
            backend = doc.backends[legacy[model.backend]]
        if backend is None:
            yield SpecError(smap.locate((*base, "backend")),
                            f'model "{model.name}" references unknown backend "{model.backend}"',
                            _suggest(model.backend, doc.backends))
        elif model.capability not in backend.capabilities:
            yield SpecError(smap.locate((*base, "capability")),
                            f'backend "{model.backend}" does not support {model.capability} '
                            f'(supports: {", ".join(backend.capabilities)})',
                            "route this model to a backend with that capability")
        for j, fallback in enumerate(model.fallbacks):
            if fallback == model.name or fallback not in model_names:
                yield SpecError(smap.locate((*base, "fallbacks", j)),
                                f'model "{model.name}" falls back to '
                                + ("itself" if fallback == model.name else f'unknown model "{fallback}"'),
                                _suggest(fallback, model_names - {model.name}))
            elif capability_of[fallback] != model.capability:
                same = sorted(m.name for m in doc.models if m.capability == model.capability and m.name != model.name)
                yield SpecError(smap.locate((*base, "fallbacks", j)),
                                f'model "{model.name}" ({model.capability}) falls back to "{fallback}", '
                                f"which does {capability_of[fallback]}",
                                "fall back to a model with the same capability"
                                + (f": {', '.join(same)}" if same else ""))


def _endpoint_rules(env: EnvSpec) -> Iterator[SpecError]:
    doc, smap = env.document, env.source_map
    listed = doc.gateway.endpoints
    have = {m.capability for m in doc.models}
    seen: set[str] = set()
    for i, name in enumerate(listed or ()):
        where = smap.locate(("gateway", "endpoints", i))
        endpoint = ENDPOINTS[name]
        needed = model_capabilities(endpoint)
        if name in seen:
            yield SpecError(where, f'endpoint "{name}" is listed twice in gateway.endpoints', "list it once")
        elif endpoint.capability == "mcp" and not doc.mcp_servers:
            yield SpecError(where, "endpoint \"mcp\" is listed but no MCP server is declared" + _in_env(env, where),
                            "declare one under mcp_servers: (name: {url, transport}), or remove mcp")
        elif endpoint.capability == "a2a" and not doc.agents:
            yield SpecError(where, "endpoint \"a2a\" is listed but no agent is declared" + _in_env(env, where),
                            "declare one under agents: (name: {url, description}), or remove a2a")
        elif needed and not needed & have:
            yield SpecError(where, f'endpoint "{name}" needs a model that does {_either(needed)}, and there is none'
                            + _in_env(env, where), _provider_hint(env, name, needed))
        seen.add(name)
    spec_env = doc.environments[env.name]
    if spec_env.guardrails == "in_proxy" and not spec_env.enable_policy_gateway:
        unchecked = [n for n in exposed_endpoints(doc) if n in IN_PROXY_UNCHECKED]
        if unchecked:
            where = smap.locate(("gateway", "endpoints") if listed is not None
                                else ("environments", env.name, "guardrails"))
            yield SpecError(where, f'environment "{env.name}" checks its traffic only inside LiteLLM (guardrails: '
                            "in_proxy, gateway disabled), which cannot check all these endpoints carry: "
                            + ", ".join(f"{n} ({IN_PROXY_UNCHECKED[n]})" for n in unchecked),
                            "route these through the gateway (enable_policy_gateway: true), or leave them out "
                            "of this environment's gateway.endpoints", "warning")


def _either(capabilities: Iterable[str]) -> str:
    names = sorted(capabilities)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _provider_hint(env: EnvSpec, endpoint: str, needed: frozenset[str]) -> str:
    backends = [name for name, b in env.document.backends.items() if needed & set(b.capabilities)]
    drop = f"or remove {endpoint} from gateway.endpoints"
    if not backends:
        return f"no backend supports {_either(needed)}: add it to a backend's capabilities and a model on it, {drop}"
    which = f'backend "{backends[0]}"' if len(backends) == 1 else "one of the backends " + _either(
        f'"{b}"' for b in backends)
    what = f"`capability: {next(iter(needed))}`" if len(needed) == 1 else f"capability {_either(needed)}"
    return f"add a model with {what} on {which}, {drop}"


def _files_backend_rules(env: EnvSpec) -> Iterator[SpecError]:
    doc, smap = env.document, env.source_map
    name = doc.litellm.files_backend
    if name is None:
        return
    where = smap.locate(("litellm", "files_backend"))
    legacy = {alias: b for b, spec in doc.backends.items() for alias in spec.legacy_names}
    if name in legacy:
        yield SpecError(where, f'litellm.files_backend uses legacy backend name "{name}"', f'write "{legacy[name]}"',
                        "warning")
    backend = doc.backends.get(legacy.get(name, name))
    if backend is None:
        yield SpecError(where, f'litellm.files_backend names unknown backend "{name}"', _suggest(name, doc.backends))
    elif not BATCH_CAPABILITIES & set(backend.capabilities):
        yield SpecError(where, f'litellm.files_backend "{name}" cannot run batches (supports: '
                        f'{", ".join(backend.capabilities)})',
                        f"name a backend that does {_either(BATCH_CAPABILITIES)}")


def _policy_rules(env: EnvSpec) -> Iterator[SpecError]:
    doc, smap = env.document, env.source_map
    envs = doc.environments
    model_names = {m.name for m in doc.models}
    for pname in ("prompt", "output"):
        policy = getattr(doc.policies, pname)
        for env_name in policy.mode:
            if env_name not in envs:
                yield SpecError(smap.locate(("policies", pname, "mode", env_name), key=True),
                                f'policy "{pname}" sets a mode for unknown environment "{env_name}"',
                                _suggest(env_name, envs))
        for env_name in envs:
            if env_name not in policy.mode:
                yield SpecError(smap.locate(("policies", pname, "mode")),
                                f'policy "{pname}" has no mode for environment "{env_name}"',
                                "set enforce, monitor or off for every environment")
    for model_name in doc.policies.prompt.token_budget.per_model:
        if model_name not in model_names:
            yield SpecError(smap.locate(("policies", "prompt", "token_budget", "per_model", model_name), key=True),
                            f'token budget for unknown model "{model_name}"', _suggest(model_name, model_names))


def _production_invariants(env: EnvSpec) -> Iterator[SpecError]:
    doc, smap = env.document, env.source_map
    spec = doc.environments[env.name]
    if spec.sea_env != "production":
        return
    base = ("environments", env.name)
    if not spec.enable_policy_gateway:
        yield SpecError(smap.locate((*base, "enable_policy_gateway")),
                        f'environment "{env.name}" has SEA_ENV=production but enable_policy_gateway is false',
                        "production must run with the policy gateway: set enable_policy_gateway: true")
    fail_mode = spec.fail_mode or doc.routing.fail_mode
    if fail_mode != "closed":
        path = (*base, "fail_mode") if spec.fail_mode else ("routing", "fail_mode")
        yield SpecError(smap.locate(path),
                        f'environment "{env.name}" has SEA_ENV=production but fail_mode is "{fail_mode}"',
                        "production must fail closed: set fail_mode: closed")
    # A policy off in production, and unsigned bundles there: compiler/bundle_trust.py.


def _exposure_rules(env: EnvSpec) -> Iterator[SpecError]:
    """In production nothing may reach LiteLLM, OPA or Redis except through the gateway."""
    doc, smap = env.document, env.source_map
    if doc.environments[env.name].sea_env != "production":
        return
    for name, svc in doc.services.items():
        if svc.role not in BEHIND_GATEWAY:
            continue
        ports = published(svc, production=True)
        if not ports:
            continue
        field = "host_ip" if svc.publish.host_ip is not None else "enabled"
        where = smap.locate(("services", name, "publish", field))
        outside = [p for p in ports if not is_loopback(p.host_ip)]
        if outside:
            yield SpecError(where, f'service "{name}" ({svc.role}) would be reachable from outside on '
                            + ", ".join(f"{p.host_ip}:{p.host_port}" for p in outside)
                            + f' in production environment "{env.name}", around the policy gateway',
                            "remove its publish (production publishes only the gateway), or override it per "
                            "environment with publish: {enabled: false}")
        else:
            yield SpecError(where, f'service "{name}" ({svc.role}) is published on the host\'s loopback in '
                            f'production environment "{env.name}": any process on the host can reach it around '
                            "the gateway", "publish it in development environments only", "warning")


def _admission_per_replica(env: EnvSpec) -> Iterator[SpecError]:
    """A backend's concurrency (seed 003's admission) is shared by the gateway replicas through
    Redis; without Redis each replica counts alone, so N replicas admit N times the limit."""
    doc, smap = env.document, env.source_map
    if redis_plan(doc) is not None:
        return
    deployment = deployment_plan(doc, doc.environments[env.name].sea_env)
    replicas = deployment.autoscaling.max_replicas if deployment.autoscaling else deployment.gateway.replicas
    if replicas <= 1:
        return
    for name, backend in sorted(doc.backends.items()):
        for capability, limit in sorted(backend.concurrency.items()):
            yield SpecError(smap.locate(("backends", name, "concurrency", capability)),
                            f'backend "{name}" admits {limit} {capability} request(s) at a time, but environment '
                            f'"{env.name}" has no Redis to share the count: each of its up to {replicas} gateway '
                            f"replicas counts alone (up to {limit * replicas} at once)",
                            "add a service with role: cache (or a `redis` section), or run one gateway replica "
                            "(deployment.gateway.replicas: 1, autoscaling off)", "warning")


def _fallback_locality_rules(env: EnvSpec) -> Iterator[SpecError]:
    """A fallback must not carry a prompt off the site unless the environment allows it (seed 002, req. 16):
    a model's fallbacks, and the router's context window fallbacks."""
    doc, smap = env.document, env.source_map
    spec_env = doc.environments[env.name]
    backend_of = {m.name: doc.backends.get(m.backend) for m in reversed(doc.models)}
    edges: list[tuple[str, str, KeyPath]] = [(model.name, fallback, ("models", i, "fallbacks", j))
             for i, model in enumerate(doc.models) for j, fallback in enumerate(model.fallbacks)]
    edges += [(name, fallback, ("router", "context_window_fallbacks", name, j))
              for name, fallbacks in doc.router.context_window_fallbacks.items()
              for j, fallback in enumerate(fallbacks)]
    for name, fallback, path in edges:
        source, target = backend_of.get(name), backend_of.get(fallback)
        if source is None or target is None or locality(target) != "external":
            continue  # unknown names are reported by _model_rules and litellm_rules
        where = smap.locate(path)
        what = f'model "{name}" falls back to "{fallback}", whose backend is external'
        if spec_env.air_gapped:
            yield SpecError(where, f'{what}, in air-gapped environment "{env.name}"',
                            "an air-gapped environment never calls an external provider: fall back to a "
                            "local or private model, or remove the fallback")
        elif locality(source) != "external" and not spec_env.allow_external_fallback:
            yield SpecError(where, f'{what}: prompts for "{name}" ({locality(source)}) would leave the '
                            f'site in environment "{env.name}"',
                            f"fall back to a local or private model, or set allow_external_fallback: true on "
                            f"environment {env.name} if its prompts may go to that provider")


# LiteLLM settings that would route a request to another model, unseen by the fallback rules above.
_LITELLM_FALLBACK_SETTINGS = ("content_policy_fallbacks", "context_window_fallbacks", "default_fallbacks", "fallbacks")


def _fallbacks_outside_models(env: EnvSpec) -> Iterator[SpecError]:
    written = env.document.litellm.settings.model_dump(exclude_unset=True, by_alias=True)
    for key in _LITELLM_FALLBACK_SETTINGS:
        if key in written:
            yield SpecError(env.source_map.locate(("litellm", "settings", key), key=True),
                            f"litellm.settings.{key} sends requests to other models where validate cannot check "
                            "where their prompts go", "declare fallbacks on the model (models[].fallbacks)")


def _ingress_sizing(env: EnvSpec) -> Iterator[SpecError]:
    """An ingress annotation must not cut a request the environment serves (compiler/sizing.py)."""
    doc, smap = env.document, env.source_map
    ingress = doc.deployment.ingress
    if not ingress.enabled:
        return
    base = ("deployment", "ingress", "annotations")
    longest = sizing.longest_model(doc, served_capabilities(doc))
    for key in (sizing.READ_TIMEOUT, sizing.SEND_TIMEOUT):
        value = ingress.annotations.get(key)
        if value is None or longest is None:
            continue
        where = smap.locate((*base, key))
        seconds = sizing.parse_seconds(value)
        index, model = longest
        needed = sizing.model_timeout(model, doc)
        if seconds is None:
            yield SpecError(where, f"ingress annotation {key} is {value!r}, not a whole number of seconds",
                            f"leave it out: the compiler sets {sizing.whole_seconds(needed)}")
        elif seconds < needed:
            set_at = smap.locate(("models", index, "timeout_s") if model.timeout_s is not None
                                 else ("router", "timeout_s"))
            yield SpecError(where, f"ingress annotation {key} is {seconds} s, shorter than model "
                            f'"{model.name}"\'s timeout of {needed:g} s ({set_at}): the ingress would cut its '
                            f"requests" + _in_env(env, where),
                            f"leave it out (the compiler sets {sizing.whole_seconds(needed)}) or raise it to at "
                            f"least {sizing.whole_seconds(needed)}")
    value = ingress.annotations.get(sizing.BODY_SIZE)
    if value is not None:
        where = smap.locate((*base, sizing.BODY_SIZE))
        size = sizing.parse_size(value)
        limit = doc.gateway.max_body_bytes
        if size is None:
            yield SpecError(where, f"ingress annotation {sizing.BODY_SIZE} is {value!r}, not an nginx size",
                            f"leave it out: the compiler sets {sizing.format_size(limit)}")
        elif 0 < size < limit:
            yield SpecError(where, f"ingress annotation {sizing.BODY_SIZE} is {value} ({size} bytes), below "
                            f"gateway.max_body_bytes ({limit}): the ingress would refuse bodies the gateway "
                            "accepts" + _in_env(env, where),
                            f"leave it out (the compiler sets {sizing.format_size(limit)}) or raise it")
