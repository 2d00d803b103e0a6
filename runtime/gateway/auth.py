"""Client authentication: a Bearer key (or `api-key` header) checked against the configured keys
before anything else runs, so an unauthenticated request never reaches LiteLLM."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from runtime.errors import ApiError

__all__ = ["Authenticator"]


class Authenticator:
    def __init__(self, keys: Iterable[str]) -> None:
        # Keep only digests: the keys stay out of anything dumped or logged, and a lookup by
        # SHA-256 digest leaks nothing useful through timing. The short id names the key in
        # Redis and logs.
        self._ids = {hashlib.sha256(k.encode()).digest(): hashlib.sha256(k.encode()).hexdigest()[:16] for k in keys}

    def authenticate(self, headers: Mapping[str, str]) -> str:
        """The key id of the presented key, or a 401 ApiError."""
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else headers.get("api-key", "")
        if not token:
            raise ApiError(
                401,
                "missing API key: send `Authorization: Bearer <key>`",
                type_="authentication_error",
                code="missing_api_key",
            )
        digest = hashlib.sha256(token.encode()).digest()
        key_id = self._ids.get(digest)
        if key_id is not None:
            return key_id
        raise ApiError(
            401,
            "invalid API key: check POLICY_GATEWAY_API_KEYS or ask for a key",
            type_="authentication_error",
            code="invalid_api_key",
        )
