"""All configuration in one place: environment variables with the TRIALMATCH_ prefix (or a .env file)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from matcher.codes.loader import default_mappings_dir, load_mappings
from matcher.codes.model import Mappings


class CdsClient(BaseModel):
    """A CDS client (an EHR) trusted to call the CDS Hooks service: where its keys are, and which jku it may name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    jwks_url: str
    jku: tuple[str, ...] = ()


class Settings(BaseSettings):
    """Every setting trialmatch reads; nothing else reads os.environ."""

    model_config = SettingsConfigDict(env_prefix="TRIALMATCH_", env_file=".env", extra="ignore", frozen=True)

    #: the hospital's FHIR R4 server; unset: the bundled fixtures are the FHIR source
    fhir_base_url: str | None = None
    #: how trialmatch authenticates to it: none, bearer (fhir_token) or smart (SMART Backend Services);
    #: unset: bearer when a token is given, smart when a client id is given, else none
    fhir_auth: Literal["none", "bearer", "smart"] | None = None
    #: a static bearer token for the FHIR server (fhir_auth=bearer)
    fhir_token: SecretStr | None = None
    #: SMART Backend Services: client id, private key (PEM file), key id, signing algorithm
    smart_client_id: str | None = None
    smart_key_file: Path | None = None
    smart_key_id: str | None = None
    smart_alg: Literal["RS384", "ES384"] = "RS384"
    #: the token endpoint; unset: discovered from the server's .well-known/smart-configuration
    smart_token_url: str | None = None
    smart_scope: str = (
        "system/Patient.read system/Condition.read system/Observation.read system/MedicationStatement.read "
        "system/MedicationRequest.read system/MedicationAdministration.read system/Medication.read "
        "system/Procedure.read"
    )
    #: seconds to establish a connection, and to wait for an answer
    fhir_connect_timeout: float = Field(5.0, gt=0)
    fhir_read_timeout: float = Field(30.0, gt=0)
    #: searches in flight at once for one patient; connections in the shared pool
    fhir_concurrency: int = Field(6, ge=1)
    fhir_max_connections: int = Field(20, ge=1)
    #: retries of one request on 429, 502, 503, 504 and connection errors; backoff base and ceiling (seconds)
    fhir_retries: int = Field(4, ge=0)
    fhir_backoff: float = Field(0.5, ge=0)
    fhir_backoff_max: float = Field(30.0, ge=0)
    #: most requests spent on one patient (pages and retries included) before giving up
    fhir_request_budget: int = Field(60, ge=1)
    #: most seconds spent fetching one patient, retries included; no retry starts after it
    fhir_deadline: float = Field(60.0, gt=0)
    #: page size asked for (_count); servers may give fewer
    fhir_page_size: int = Field(1000, ge=1)
    #: Patient/$everything when the CapabilityStatement offers it (auto), always, or never
    fhir_everything: Literal["auto", "always", "never"] = "auto"
    #: longest search URL sent; longer code lists are split over several searches
    fhir_max_url_length: int = Field(4000, ge=500)
    #: fetched patient data is cached this long (seconds; 0 turns the cache off), for at most this many patients
    cache_ttl: float = Field(300.0, ge=0)
    cache_max_patients: int = Field(1024, ge=1)
    #: where runs are stored; default a SQLite file in the work folder
    database_url: str | None = None
    #: the nightly job's working folder (its SQLite database, bulk exports) and default report folder
    work_dir: Path = Path("var")
    #: patients evaluated at once by the nightly job (each with up to fhir_concurrency searches)
    nightly_concurrency: int = Field(4, ge=1)
    #: the Patient.identifier system of the hospital's medical record number, shown in the report; unset:
    #: the first identifier of type MR (HL7 v2-0203)
    mrn_system: str | None = None
    #: days the run history (results, and who each patient is) is kept; `trialmatch purge` deletes older runs
    retention_days: int = Field(180, ge=1)
    #: the site secret that `trialmatch report --deidentify` derives stable pseudonyms from (HMAC-SHA256)
    report_secret: str | None = None
    #: how the funnel finds ICD-style prefixes: scan (any server) or below (servers that support :below)
    funnel_prefixes: Literal["scan", "below"] = "scan"
    #: most requests the candidate funnel may send (pages and retries included), and its seconds
    funnel_budget: int = Field(100_000, ge=1)
    funnel_deadline: float = Field(3600.0, gt=0)
    #: most requests one bulk export may send (polls, downloads and retries included), and its seconds
    export_budget: int = Field(10_000, ge=1)
    export_timeout: float = Field(6 * 3600.0, gt=0)
    #: longest pause between two status checks of a bulk export that gives no Retry-After (seconds)
    export_poll_max: float = Field(60.0, gt=0)
    #: after an export, the Medications it lacked (outside the Patient compartment): most requests, and seconds
    export_medications_budget: int = Field(1000, ge=1)
    export_medications_deadline: float = Field(600.0, gt=0)
    #: development only: a static bearer token the API accepts, and only when allow_static_token is true
    api_token: SecretStr | None = None
    #: accept api_token (development only: it grants every scope; the API says so at start-up)
    allow_static_token: bool = False
    #: REST callers' JWTs: the issuer (iss) trusted, this API's audience (aud), and the issuer's keys: a JWKS
    #: URL, or a key file (a PEM public key or a JWKS JSON file)
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwks_url: str | None = None
    jwt_key_file: Path | None = None
    #: signing algorithms accepted from callers (comma-separated; asymmetric only)
    jwt_algorithms: str = "RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES384,ES512"
    #: seconds of clock skew tolerated on exp, nbf and iat
    jwt_leeway: float = Field(30.0, ge=0)
    #: CDS Hooks clients trusted, as JSON: {"<iss>": {"jwks_url": "...", "jku": ["<allowed jku URL>", ...]}}
    cds_clients: dict[str, CdsClient] = Field(default_factory=dict)
    #: longest lifetime (exp - iat) accepted of a CDS client's JWT, in seconds
    cds_token_lifetime: int = Field(300, ge=1)
    #: fhirServer base URLs a CDS call may have us read what its prefetch lacks from (comma-separated), besides
    #: fhir_base_url; any other fhirServer is refused (412), so a caller cannot point us at arbitrary hosts
    cds_fhir_servers: str = ""
    #: this service's base URL as callers reach it (https://trialmatch.example.org): a CDS JWT's aud is the
    #: URL of the endpoint it calls under it
    public_url: str | None = None
    #: browser origins allowed to call the API (comma-separated); none by default
    cors_origins: str = ""
    #: requests per client on the match and CDS routes, in limits' notation ("60/minute"); empty: no limit
    rate_limit: str = "60/minute"
    #: where the rate limit's counts and the jti of CDS JWTs already seen are kept, as a limits storage URI:
    #: memory:// (this process only) or one the workers share (redis://..., memcached://...)
    limits_storage: str = "memory://"
    #: serve Swagger UI at /docs (behind authentication; its assets come from an installed package, no CDN)
    docs: bool = True
    #: folders of site mapping files read after mappings/ (separated by commas)
    mappings_extra: str = ""
    #: show tracebacks of internal errors instead of one line
    debug: bool = False
    #: largest request body the API accepts, in bytes
    max_body_bytes: int = 50 * 1024 * 1024
    #: worker processes of `trialmatch serve` (0: one per core); each keeps its own patient cache
    api_workers: int = Field(0, ge=0)
    #: most entries one patient's Bundle may hold in a request (a bound on one request's work)
    max_bundle_entries: int = Field(20_000, ge=1)

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.work_dir / 'trialmatch.db'}"

    @property
    def auth_mode(self) -> Literal["none", "bearer", "smart"]:
        if self.fhir_auth:
            return self.fhir_auth
        if self.fhir_token:
            return "bearer"
        return "smart" if self.smart_client_id else "none"

    @cached_property
    def mappings(self) -> Mappings:
        extra = tuple(Path(p.strip()) for p in self.mappings_extra.split(",") if p.strip())
        return load_mappings((default_mappings_dir(), *extra))


def shipped() -> Settings:
    """The settings as shipped: every default, without reading the environment or a .env file.

    For code built without a Settings in hand (tests, tools); a running trialmatch reads `Settings()`.
    """
    return Settings.model_construct()
