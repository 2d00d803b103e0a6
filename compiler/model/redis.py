"""The `redis` section: where the gateway's shared state lives, one URL or a Redis Sentinel set.

Without the section the gateway uses the `cache` service of the registry by URL, as before.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator

from compiler.model._base import EnvVarName, StrictModel

# host:port; a password never goes into a URL or an address (see `password_env`)
HostPort = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?:[0-9]{1,5}$")]
RedisUrl = Annotated[str, StringConstraints(pattern=r"^rediss?://[^\s@/:]+(:[0-9]{1,5})?(/[0-9]+)?$")]


class Sentinel(StrictModel):
    sentinels: list[HostPort] = Field(
        min_length=1, description="host:port of each Redis Sentinel (26379 is Sentinel's usual port)"
    )
    master_name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]*$")] = Field(
        description="the name the sentinels monitor the master under (`sentinel monitor <name> …`)"
    )

    @field_validator("sentinels")
    @classmethod
    def _ports_in_range(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not 1 <= int(entry.rpartition(":")[2]) <= 65535:
                raise ValueError(f"{entry!r}: the port must be 1-65535")
        return value


class Redis(StrictModel):
    url: RedisUrl | None = Field(
        None, description="redis://host:port/db of a single Redis; default: the registry's `cache` service"
    )
    sentinel: Sentinel | None = Field(
        None, description="find the master through Redis Sentinel (and again after a failover)"
    )
    password_env: EnvVarName | None = Field(
        None,
        description="the variable holding the Redis password (os.environ/NAME in generated files; the gateway "
        "reads it as REDIS_PASSWORD)",
    )

    @model_validator(mode="after")
    def _url_or_sentinel(self) -> Redis:
        if self.url is not None and self.sentinel is not None:
            raise ValueError("give either `url` or `sentinel`, not both")
        if self.password_env is not None and self.url is None and self.sentinel is None:
            raise ValueError("password_env belongs to a `url` or `sentinel`; the registry's cache service "
                             "takes its password from REDIS_PASSWORD")
        return self
