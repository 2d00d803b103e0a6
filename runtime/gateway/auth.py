"""Client authentication: a key in `Authorization: Bearer <key>` or `api-key: <key>`, checked
against the configured keys before anything else runs, so an unauthenticated request never
reaches LiteLLM; and a per-address limit on failed attempts.

One parser, strict: the scheme `Bearer` in any case (RFC 9110 §11.1 makes it case-insensitive;
clients send `bearer` too), then exactly one space and the key, with nothing around them; the key
is a `b64token` (RFC 6750 §2.1: letters, digits, `-._~+/`, then `=` padding). Both headers may be
sent only with the same key. Anything else is a 401 that says what to send; the presented key is
never logged or echoed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping

from runtime.errors import ApiError, retry_after

__all__ = [
    "AUTH_FAILURES",
    "AuthFailureLimiter",
    "Authenticator",
    "Networks",
    "client_address",
    "presented_key",
    "trusted_networks",
]

_B64TOKEN = r"[A-Za-z0-9\-._~+/]+=*"
_BEARER = re.compile(rf"(?i:bearer) ({_B64TOKEN})")
_KEY = re.compile(_B64TOKEN)
# the codes of a refused credential (an upstream's 401 is not one: it says nothing of the client)
AUTH_FAILURES = frozenset({"missing_api_key", "invalid_authorization", "invalid_api_key"})
_HOW = "send `Authorization: Bearer <key>` (one space, nothing else around it) or `api-key: <key>`"


def _refusal(message: str, code: str) -> ApiError:
    return ApiError(401, message, type_="authentication_error", code=code)


def presented_key(headers: Mapping[str, str]) -> str:
    """The key a request presents, or a 401 ApiError (missing_api_key, invalid_authorization)."""
    authorization = headers.get("authorization")
    api_key = headers.get("api-key")
    token = None
    if authorization is not None:
        match = _BEARER.fullmatch(authorization)
        if match is None:
            # never quote the value: whatever it holds may be a credential
            scheme, _, rest = authorization.partition(" ")
            if rest and scheme and scheme.lower() != "bearer":
                raise _refusal(f"unsupported authorization scheme (only Bearer): {_HOW}", "invalid_authorization")
            raise _refusal(f"malformed Authorization header: {_HOW}", "invalid_authorization")
        token = match.group(1)
    if api_key is not None:
        if _KEY.fullmatch(api_key) is None:
            raise _refusal(f"malformed api-key header: {_HOW}", "invalid_authorization")
        if token is not None and token != api_key:
            raise _refusal(f"Authorization and api-key carry different keys: {_HOW}", "invalid_authorization")
        token = api_key
    if token is None:
        raise _refusal(f"missing API key: {_HOW}", "missing_api_key")
    return token


class Authenticator:
    def __init__(self, keys: Iterable[str], named: Mapping[str, str] | None = None) -> None:
        # Keep only digests: the keys stay out of anything dumped or logged, and a lookup by
        # SHA-256 digest leaks nothing useful through timing. The short id names the key in
        # Redis and logs. `named` maps a client key's name in the specs to its value: the
        # identity LiteLLM knows it by.
        self._ids = {hashlib.sha256(k.encode()).digest(): hashlib.sha256(k.encode()).hexdigest()[:16] for k in keys}
        self._names = {hashlib.sha256(v.encode()).hexdigest()[:16]: name for name, v in (named or {}).items()}

    def authenticate(self, headers: Mapping[str, str]) -> str:
        """The key id of the presented key, or a 401 ApiError."""
        digest = hashlib.sha256(presented_key(headers).encode()).digest()
        key_id = self._ids.get(digest)
        if key_id is not None:
            return key_id
        raise _refusal("invalid API key: check POLICY_GATEWAY_API_KEYS or ask for a key", "invalid_api_key")

    def client_name(self, key_id: str) -> str | None:
        """The specs' name of an authenticated key (its identity in LiteLLM), None for an unnamed one."""
        return self._names.get(key_id)


class AuthFailureLimiter:
    """At most `per_minute` failed authentications per client address in any 60 s (a sliding
    window, in this replica's memory); past that, every request from the address that needs a
    key is refused (429, Retry-After) without looking at the key, so guessing does not pay.
    Successful requests do not count. The clock is injected."""

    WINDOW_S = 60.0

    def __init__(
        self, per_minute: int, *, clock: Callable[[], float] = time.monotonic, max_addresses: int = 10_000
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._max_addresses = max_addresses  # the oldest address is forgotten beyond this
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after_s(self, address: str) -> float:
        """0 when `address` may try to authenticate, else the seconds until it may."""
        window = self._failures.get(address)
        if window is None:
            return 0.0
        now = self._clock()
        while window and window[0] <= now - self.WINDOW_S:
            window.popleft()
        if not window:
            del self._failures[address]
            return 0.0
        if len(window) < self.per_minute:
            return 0.0
        return window[0] + self.WINDOW_S - now

    def check(self, address: str) -> None:
        """Raise the 429 when `address` has used up its failures."""
        wait = self.retry_after_s(address)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise ApiError(
                429,
                f"too many failed authentications from this address ({self.per_minute} per minute); "
                f"retry after {seconds} s with a valid key",
                type_="rate_limit_error",
                code="too_many_auth_failures",
                headers=[retry_after(seconds)],
            )

    def record(self, address: str) -> bool:
        """Count one failure; True when it used up the address's allowance (worth one log line)."""
        window = self._failures.pop(address, None)
        if window is None:
            window = deque(maxlen=self.per_minute)
            if len(self._failures) >= self._max_addresses:
                self._failures.popitem(last=False)
        window.append(self._clock())
        self._failures[address] = window  # most recent last
        return len(window) == self.per_minute


Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def trusted_networks(entries: Iterable[str]) -> Networks:
    """Addresses or CIDRs (settings validated them) as networks."""
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def client_address(peer: str | None, forwarded_for: str | None, trusted: Networks) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the nearest
    X-Forwarded-For hop that is not one (what each trusted proxy appended is believed, nothing
    before it; when every hop is trusted, the first)."""
    if not peer or not trusted or not _within(peer, trusted):
        return peer or "unknown"
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    client = peer
    for hop in reversed(hops):
        try:
            client = str(ipaddress.ip_address(hop))
        except ValueError:
            break  # a malformed hop: the last trusted one is all we know
        if not _within(client, trusted):
            break
    return client


def _within(address: str, networks: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)
