"""Fixtures of the deploy tests: the chart loaded once by Helm's own Go SDK (in-process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import helm_python as helm
import pytest
from helmchart import CHART_DIR, NAMESPACE, RELEASE


@pytest.fixture(scope="session")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def render(chart: helm.Chart) -> Any:
    def _render(values: dict[str, Any]) -> dict[str, str]:
        return chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)

    return _render
