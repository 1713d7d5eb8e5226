"""All configuration in one place: environment variables with the TRIALMATCH_ prefix (or a .env file)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from matcher.codes.loader import Mappings, default_mappings_dir, load_mappings


class Settings(BaseSettings):
    """Every setting trialmatch reads; nothing else reads os.environ."""

    model_config = SettingsConfigDict(env_prefix="TRIALMATCH_", env_file=".env", extra="ignore", frozen=True)

    #: the hospital's FHIR R4 server; unset: the bundled fixtures are the FHIR source
    fhir_base_url: str | None = None
    #: where runs are stored (SQLite file by default)
    database_url: str | None = None
    #: development only: a static bearer token the API accepts
    api_token: SecretStr | None = None
    #: folders of site mapping files read after mappings/ (separated by commas)
    mappings_extra: str = ""
    #: show tracebacks of internal errors instead of one line
    debug: bool = False
    #: largest request body the API accepts, in bytes
    max_body_bytes: int = 50 * 1024 * 1024

    @cached_property
    def mappings(self) -> Mappings:
        extra = tuple(Path(p.strip()) for p in self.mappings_extra.split(",") if p.strip())
        return load_mappings((default_mappings_dir(), *extra))
