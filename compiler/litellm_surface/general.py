"""general_settings: litellm.proxy._types.ConfigGeneralSettings, its common keys typed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from compiler.litellm_surface._base import PassThrough
from compiler.litellm_surface._from_litellm import GENERAL_SETTINGS


class GeneralSettings(PassThrough):
    passthrough_keys = GENERAL_SETTINGS

    master_key: str | None = Field(None, description="os.environ/NAME: the proxy's admin key")
    database_url: str | None = Field(None, description="os.environ/NAME: PostgreSQL, credentials included")
    database_connection_pool_limit: int | None = Field(None, ge=1)
    database_connection_timeout: float | None = Field(None, gt=0)
    store_model_in_db: bool | None = None
    alerting: list[Literal["slack", "email", "webhook"]] | None = None
    alerting_threshold: float | None = Field(None, gt=0, description="seconds before a slow request is alerted")
    background_health_checks: bool | None = None
    health_check_interval: int | None = Field(None, ge=1)
