"""The gateway's HTTP servers: uvicorn (httptools, uvloop) on each listener, in one event loop,
with the server limits of the specs. uvicorn's own keep-alive timeout is used; for the rest its
httptools protocol has no setting, so LimitedHttpToolsProtocol adds them: a client has
`header_timeout_s` to send a request's line and headers (counted from the connection's opening,
or from the first byte of a later request; the keep-alive timer covers the idle time between
requests) and `body_timeout_s` for the whole body after them; the line and headers may not
exceed `max_header_bytes`; at most `max_connections` connections are served. A slow client is
answered 408 when part of its request arrived (else its connection just closes), oversized
headers 431, a request over the connection cap 503; each such connection is closed and counted
(`policy_gateway_connections_refused_total`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
import socket
from asyncio import TimerHandle
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import uvicorn
from prometheus_client import Counter
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from runtime.settings import ServerLimits

__all__ = ["LimitedHttpToolsProtocol", "Listener", "bind", "protocol_class", "run"]

_log = logging.getLogger("policy_gateway.server")


# (status, error type, error code, message) per reason a connection is refused
_ANSWERS: dict[str, tuple[int, str, str, str]] = {
    "header_timeout": (
        408,
        "invalid_request_error",
        "request_timeout",
        "the request's headers did not arrive within {header_timeout_s:g} s; send the whole request at once",
    ),
    "body_timeout": (
        408,
        "invalid_request_error",
        "request_timeout",
        "the request's body did not arrive within {body_timeout_s:g} s of its headers; send the whole request at once",
    ),
    "header_too_large": (
        431,
        "invalid_request_error",
        "request_header_fields_too_large",
        "the request line and headers exceed {max_header_bytes} bytes; send fewer or shorter headers",
    ),
    "too_many_connections": (
        503,
        "service_unavailable",
        "too_many_connections",
        "the gateway serves {max_connections} connections at a time; retry shortly",
    ),
}


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """One connection. protocol_class sets the limits and where refusals are counted."""

    limits: ClassVar[ServerLimits]
    listener: ClassVar[str]
    refused: ClassVar[Counter]  # labels: listener, reason

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: TimerHandle | None = None
        self._in_head = False  # a request's first bytes arrived, its headers are not complete
        self._in_body = False
        self._head_bytes = 0
        self._refused = False

    # --- connection --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm("header_timeout", self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._deadline is None and not self._in_body:
            # The first byte after an idle keep-alive (uvicorn has just stopped its timer): the
            # next request's head is on its way, or this is noise that must not keep us open.
            self._arm("header_timeout", self.limits.header_timeout_s)
        super().data_received(data)
        if self._in_head and not self._refused and not self.transport.is_closing():
            # Everything fed while the head is incomplete is head (httptools buffers a header
            # until it ends, so this cuts a huge one after one read, not at its end).
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse("header_too_large")

    # --- parser callbacks --------------------------------------------------------------------

    # Once refused, the rest of what was read is parsed for nothing: the callbacks ignore it.

    def on_message_begin(self) -> None:
        if self._refused:
            return
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._in_head = False
        self._disarm()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes:
            self._refuse("header_too_large")
            return
        # the connection itself is in self.connections
        if len(self.connections) > self.limits.max_connections or len(self.tasks) >= self.limits.max_connections:
            self._refuse("too_many_connections")
            return
        self._in_body = True
        self._arm("body_timeout", self.limits.body_timeout_s)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._in_body = False
        self._disarm()
        super().on_message_complete()

    # --- refusals ----------------------------------------------------------------------------

    def _arm(self, reason: str, delay: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(delay, self._expired, reason)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, reason: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if reason == "header_timeout" and not self._in_head:
            # nothing of a request arrived: close without an answer (nobody to read it)
            self._refuse(reason, answer=False)
        else:
            self._refuse(reason)

    def _refuse(self, reason: str, *, answer: bool = True) -> None:
        """Answer (when no other answer is under way on this connection) and close."""
        self._refused = True
        self._in_head = self._in_body = False
        self._disarm()
        self.refused.labels(self.listener, reason).inc()
        cycle = self.cycle
        in_flight = cycle is not None and not cycle.response_complete
        if self.pipeline or (in_flight and (reason != "body_timeout" or cycle.response_started)):
            # the answer due next on this connection is another one (or half sent): just close
            answer = False
        if cycle is not None and in_flight and not cycle.response_started:
            # the app waits for a body or works on a request: it sees a disconnect, its answer goes nowhere
            cycle.disconnected = True
            cycle.message_event.set()
        if answer and not self.transport.is_closing():
            self.transport.write(self._answer(reason))
        self.transport.close()

    def _answer(self, reason: str) -> bytes:
        status, type_, code, message = _ANSWERS[reason]
        text = message.format(**dataclasses.asdict(self.limits))
        body = json.dumps({"error": {"message": text, "type": type_, "code": code, "param": None}}).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        if status == 503:
            head.append(b"retry-after: 1\r\n")
        head += [
            b"content-type: application/json\r\n",
            b"content-length: ",
            str(len(body)).encode(),
            b"\r\nconnection: close\r\n\r\n",
        ]
        return b"".join(head) + body


def protocol_class(limits: ServerLimits, listener: str, refused: Counter) -> type[asyncio.Protocol]:
    """The protocol class for one listener, for uvicorn.Config(http=...)."""
    return type(
        "GatewayHttpProtocol",
        (LimitedHttpToolsProtocol,),
        {"limits": limits, "listener": listener, "refused": refused},
    )


@dataclass(frozen=True)
class Listener:
    name: str  # "gateway" or "operations": the metrics' `listener` label
    app: Any  # an ASGI application
    port: int
    limits: ServerLimits
    lifespan: bool = False  # the app's startup and shutdown run with this listener's server


def bind(listeners: list[Listener], host: str) -> list[socket.socket]:
    """A listening socket per listener, or an OSError naming the port that could not be bound
    (then none is left open)."""
    sockets: list[socket.socket] = []
    for listener in listeners:
        try:
            sockets.append(_bind(host, listener.port))
        except OSError as exc:
            for sock in sockets:
                sock.close()
            where = f"{host}:{listener.port} ({listener.name} port)"
            raise OSError(exc.errno, f"cannot listen on {where}: {exc.strerror}") from None
    return sockets


def run(listeners: list[Listener], sockets: list[socket.socket], host: str, refused: Counter) -> None:
    """Serve the listeners on their bound sockets in one uvloop event loop until SIGINT or
    SIGTERM, then shut all down gracefully."""
    servers = [_Server(_config(listener, host, refused)) for listener in listeners]
    for listener in listeners:
        _log.info("listening", extra={"listener": listener.name, "address": f"{host}:{listener.port}"})
    with asyncio.Runner(loop_factory=servers[0].config.get_loop_factory()) as runner:
        runner.run(_serve_all(servers, sockets))


def _config(listener: Listener, host: str, refused: Counter) -> uvicorn.Config:
    return uvicorn.Config(
        listener.app,
        host=host,
        port=listener.port,
        loop="uvloop",
        http=protocol_class(listener.limits, listener.name, refused),
        lifespan="on" if listener.lifespan else "off",
        ws="none",  # no WebSocket routes: an Upgrade is answered as plain HTTP
        access_log=False,  # the gateway writes its own JSON access line per request
        log_config=None,  # keep configure_logging's JSON handler on uvicorn's loggers
        proxy_headers=False,  # X-Forwarded-* are kept and appended to, not trusted as client ip
        server_header=False,
        # uvicorn annotates an int but only hands it to loop.call_later
        timeout_keep_alive=listener.limits.keep_alive_timeout_s,  # type: ignore[arg-type]
    )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=2048)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server without signal handlers of its own: _serve_all has one set for all."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_all(servers: list[_Server], sockets: list[socket.socket]) -> None:
    """Serve until a signal (or until one server stops); then every server shuts down gracefully
    (a second SIGINT forces it, as in uvicorn)."""
    loop = asyncio.get_running_loop()

    def on_signal(sig: int) -> None:
        for server in servers:
            server.handle_exit(sig, None)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    tasks = [asyncio.create_task(s.serve(sockets=[sock])) for s, sock in zip(servers, sockets, strict=True)]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks)
