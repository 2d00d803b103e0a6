"""Start the gateway: every fail-fast check first, then bind. `gatewayctl serve` calls `serve`.

The checks run before uvicorn binds the port, so a refused start never accepts a connection:
production without the gateway enabled, production with fail mode open, an unreadable
gateway.json, a missing or corrupt policy bundle, a bundle that is not proven (files that do not
match its manifest, a missing or wrong signature where the specs require one, a policy off in
production), no client keys, rate limits without Redis.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from runtime.settings import Settings, SettingsError, load_settings, startup_problems

__all__ = ["StartupError", "prepare", "serve"]


class StartupError(Exception):
    """The gateway refuses to start; the message is one line saying why."""


def prepare(env: str, generated_dir: Path | str, environ: Mapping[str, str] | None = None) -> tuple[Settings, object]:
    """Settings and a loaded policy store, or StartupError. Binds nothing."""
    try:
        settings = load_settings(env, generated_dir, os.environ if environ is None else environ)
    except SettingsError as exc:
        raise StartupError(str(exc)) from None
    problems = startup_problems(settings)
    if (settings.requests_per_minute or settings.tokens_per_minute) and not settings.redis_url:
        problems.append("rate_limit is configured but REDIS_URL is not set")
    if problems:
        raise StartupError("; ".join(problems))
    from runtime.policy import BundleError, PolicyStore

    try:
        store = PolicyStore(settings.bundle_path, trust=settings.bundle_trust)
    except BundleError as exc:
        raise StartupError(f"policy bundle {settings.bundle_path}: {exc}") from None
    return settings, store


def serve(
    env: str,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    generated_dir: Path | str = "generated",
) -> None:
    """Run the gateway until SIGINT/SIGTERM. Raises StartupError before binding."""
    settings, store = prepare(env, generated_dir)

    import uvicorn

    from runtime.gateway.app import build_app
    from runtime.telemetry import configure_logging

    configure_logging(settings.log_level)
    from functools import partial

    from runtime.policy import PolicyStore

    # A hot reload proves the new bundle as the start did (digests, signature, modes).
    reload_store = partial(PolicyStore, trust=settings.bundle_trust)
    app = build_app(settings, store, store_factory=reload_store)  # type: ignore[arg-type]
    config = uvicorn.Config(
        app,
        host=host,
        port=port if port is not None else settings.listen_port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,  # the gateway writes its own JSON access line per request
        log_config=None,  # keep configure_logging's JSON handler on uvicorn's loggers
        proxy_headers=False,  # X-Forwarded-* are kept and appended to, not trusted as client ip
        server_header=False,
    )
    uvicorn.Server(config).run()
