"""Spend per key and team from LiteLLM's own cost of each call (its standard logging object),
summed per budget window: the spend LiteLLM's budget checks compare with max_budget."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

__all__ = ["SpendLedger", "window_seconds"]

_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "mo": 2_592_000}  # a month: 30 days


def window_seconds(duration: str | None) -> int | None:
    """A budget_duration (the compiler checked its form) in seconds; None: the budget never resets."""
    if not duration:
        return None
    unit = "mo" if duration.endswith("mo") else duration[-1]
    return int(duration[: -len(unit)]) * _UNIT_S[unit]


class SpendLedger(CustomLogger):
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._clock = clock
        # (kind "key"|"team", name) -> window index -> USD
        self._spend: defaultdict[tuple[str, str], dict[int, float]] = defaultdict(dict)
        self.windows: dict[tuple[str, str], int | None] = {}  # set by the table: the budget_duration

    def spend(self, kind: str, name: str) -> float:
        """What `name` spent in its current budget window."""
        return self._spend[(kind, name)].get(self._window(kind, name), 0.0)

    def _window(self, kind: str, name: str) -> int:
        period = self.windows.get((kind, name))
        return int(self._clock() // period) if period else 0

    def charge(self, kind: str, name: str, cost: float) -> None:
        window = self._window(kind, name)
        by_window = self._spend[(kind, name)]
        by_window[window] = by_window.get(window, 0.0) + cost
        for old in [w for w in by_window if w < window]:
            del by_window[old]  # a past window is never asked again

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        logged = kwargs.get("standard_logging_object") or {}
        cost = float(logged.get("response_cost") or 0.0)
        metadata = logged.get("metadata") or {}
        if cost <= 0:
            return
        if metadata.get("user_api_key_alias"):
            self.charge("key", str(metadata["user_api_key_alias"]), cost)
        if metadata.get("user_api_key_team_id"):
            self.charge("team", str(metadata["user_api_key_team_id"]), cost)
