"""Service settings (pydantic-settings): environment variables prefixed ``HWPLAN_``.

``HWPLAN_API_KEY`` is the bearer key for catalog writes; without it the service is read-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HWPLAN_", extra="ignore")

    catalog_dir: Path = Field(default_factory=lambda: Path.home() / ".hwplan" / "catalog",
                              description="Writable catalog directory; initialised from the shipped "
                                          "catalog when missing or empty.")
    api_key: SecretStr | None = Field(default=None, description="Bearer key for writes (HWPLAN_API_KEY).")
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1_000_000
    solver_time_limit_s: Annotated[float, Field(gt=0, le=600)] = 10.0  # default per plan request
    max_solver_time_limit_s: Annotated[float, Field(gt=0, le=600)] = 30.0  # most a request may ask
    max_top: Annotated[int, Field(ge=1, le=50)] = 20
    max_chips_per_replica: Annotated[int, Field(ge=1, le=256)] = 64
    max_hardware_types: Annotated[int, Field(ge=1, le=4)] = 4
    max_measurements: Annotated[int, Field(ge=1)] = 5000
    plan_cache_size: Annotated[int, Field(ge=0)] = 256  # plans per catalog version; 0 = off
