"""Start the gateway: every fail-fast check first, then bind. `gatewayctl serve` calls `serve`.

The checks run before uvicorn binds the port, so a refused start never accepts a connection:
production without the gateway enabled, production with fail mode open, an unreadable
gateway.json, a missing or corrupt policy bundle, a bundle that is not proven (files that do not
match its manifest, a missing or wrong signature where the specs require one, a policy off in
production), no client keys, rate limits without Redis, an operations port equal to the gateway's,
an OTEL_*_EXPORTER or OTEL_EXPORTER_OTLP_PROTOCOL that names no exporter.

The gateway's port and the operations port are two uvicorn servers in one event loop, sharing
the app; both speak HTTP/1.1 through runtime.gateway.server's protocol (the server limits).
"""

from __future__ import annotations

import contextlib
import cProfile
import dataclasses
import logging
import os
from collections.abc import Iterator, Mapping
from functools import partial
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
    if (settings.requests_per_minute or settings.tokens_per_minute) and not settings.uses_redis:
        problems.append("rate_limit is configured but neither REDIS_URL nor REDIS_SENTINELS is set")
    if problems:
        raise StartupError("; ".join(problems))
    from runtime.policy import BundleError, PolicyStore

    try:
        store = PolicyStore(settings.bundle_path, trust=settings.bundle_trust, engine=settings.policy_engine)
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
    """Run the gateway until SIGINT/SIGTERM: its port and, when configured, the operations port,
    in one process and event loop. Raises StartupError before binding."""
    settings, store = prepare(env, generated_dir)
    port = port if port is not None else settings.listen_port
    if settings.operations_port == port:
        raise StartupError(
            f"the operations port {port} is the gateway's own port: give the operations endpoints a port "
            "of their own (POLICY_GATEWAY_OPERATIONS_PORT or the specs' operations extra port)"
        )

    from runtime.gateway.app import build_app
    from runtime.gateway.server import Listener, bind, run
    from runtime.otlp import configure_telemetry
    from runtime.policy import PolicyStore
    from runtime.telemetry import LOGGERS, GatewayMetrics, configure_logging

    configure_logging(settings.log_level)
    if settings.missing_key_envs:
        logging.getLogger("policy_gateway.server").warning(
            "client keys of the specs have no value, so they cannot authenticate: set "
            + ", ".join(settings.missing_key_envs)
        )
    metrics = GatewayMetrics()
    # OTLP export where the OTEL_* variables ask for it (the specs' `observability`).
    try:
        telemetry = configure_telemetry("policy-gateway", metrics.registry)
    except RuntimeError as exc:  # an OTEL_* value the SDK knows no exporter for
        raise StartupError(f"OpenTelemetry settings: {exc}") from None
    telemetry.export_logs_of(LOGGERS)
    # A hot reload proves the new bundle as the start did (digests, signature, modes).
    reload_store = partial(PolicyStore, trust=settings.bundle_trust)
    app = build_app(settings, store, store_factory=reload_store,  # type: ignore[arg-type]
                    tracer_provider=telemetry.tracer_provider, metrics=metrics)
    listeners = [Listener("gateway", app, port, settings.server, lifespan=True)]
    if settings.operations_port is not None:
        # a few scrapers and operators, never the clients' traffic
        ops_limits = dataclasses.replace(settings.server, max_connections=OPERATIONS_MAX_CONNECTIONS)
        listeners.append(Listener("operations", app.operations, settings.operations_port, ops_limits))
    else:
        logging.getLogger("policy_gateway.server").warning(
            "no operations port: /metrics, /health and the status endpoints are not served "
            "(set POLICY_GATEWAY_OPERATIONS_PORT or the specs' operations extra port)"
        )
    try:
        sockets = bind(listeners, host)
    except OSError as exc:
        telemetry.shutdown()
        raise StartupError(exc.strerror or str(exc)) from None
    try:
        with _profiled(os.environ.get("POLICY_GATEWAY_PROFILE")):
            run(listeners, sockets, host, app.metrics.connections_refused)
    finally:
        telemetry.shutdown()  # the batches still held reach the collector before the process ends


@contextlib.contextmanager
def _profiled(path: str | None) -> Iterator[None]:
    """With POLICY_GATEWAY_PROFILE=<file>: cProfile of the event-loop thread (the request path; the
    decision threads and Go's are not in it) while serving, written to <file> at shutdown
    (`python -m pstats <file>`). A diagnostic: profiling slows the request path."""
    if not path:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(path)


OPERATIONS_MAX_CONNECTIONS = 32
