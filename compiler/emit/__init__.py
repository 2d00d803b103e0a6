"""The emitter registry: each emitter is a pure function from the plan to {relative path: content}.

A new artifact kind is one module plus one line in EMITTERS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from compiler.emit import (
    alerts,
    compose,
    dashboard,
    docs,
    env_example,
    gateway_settings,
    helm,
    litellm,
    opa_bundle,
)
from compiler.plan import EnvPlan, Plan

Content = str | bytes
Emitter = Callable[[Plan], Mapping[str, Content]]
EnvEmitter = Callable[[EnvPlan], Mapping[str, Content]]


def per_environment(render_env: EnvEmitter) -> Emitter:
    """Lift a per-environment emitter: its paths land under generated/<env>/."""

    def render(plan: Plan) -> dict[str, Content]:
        out: dict[str, Content] = {}
        for env in plan.environments:
            for path, content in render_env(env).items():
                out[f"{env.name}/{path}"] = content
        return out

    render.__name__ = render_env.__module__.rsplit(".", 1)[-1]
    return render


EMITTERS: tuple[Emitter, ...] = (
    per_environment(litellm.render_env),
    per_environment(compose.render_env),
    per_environment(env_example.render_env),
    per_environment(gateway_settings.render_env),
    per_environment(opa_bundle.render_env),
    per_environment(alerts.render_env),
    per_environment(dashboard.render_env),
    docs.render,
)


def render_helm(plan: Plan, rendered: Mapping[str, Content]) -> dict[str, Content]:
    """The Helm values, after the bundles are final (policy.wasm added): they carry each bundle's
    sha256 and revision, which roll the pods when a policy changes."""
    out: dict[str, Content] = {}
    for env in plan.environments:
        bundle = rendered[f"{env.name}/{opa_bundle.BUNDLE_PATH}"]
        assert isinstance(bundle, bytes)
        for path, content in helm.render_env(env, bundle).items():
            out[f"{env.name}/{path}"] = content
    return out


def render_all(plan: Plan) -> dict[str, Content]:
    out: dict[str, Content] = {}
    for emitter in EMITTERS:
        for path, content in emitter(plan).items():
            if path in out:
                raise RuntimeError(f"two emitters write {path}")  # a bug, not a user mistake
            out[path] = content
    return dict(sorted(out.items()))
