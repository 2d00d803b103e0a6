"""The one error of bundle loading, shared by the reader and the trust checks."""

from __future__ import annotations

__all__ = ["BundleError"]


class BundleError(Exception):
    """The bundle is missing, unreadable, not a policy bundle, or not trusted; the message is one line."""
