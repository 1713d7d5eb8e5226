"""Who is calling: bearer JWTs checked (REST callers' and CDS Hooks clients'), and the development token."""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt import PyJWKClient, PyJWKSet
from limits.storage import Storage

from matcher.errors import ConfigurationError
from matcher.settings import Settings

#: the scopes the API knows: evaluate patients, read a night's report, read the audit trail
MATCH_READ = "trialmatch/match.read"
REPORT_READ = "trialmatch/report.read"
AUDIT_READ = "trialmatch/audit.read"
SCOPES = (MATCH_READ, REPORT_READ, AUDIT_READ)
#: algorithms a caller may sign with: asymmetric only (never none, never a shared secret)
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
#: seconds a JWKS fetched from an issuer is kept before it is fetched again; seconds to wait for it
JWKS_LIFESPAN = 300.0
JWKS_TIMEOUT = 5.0


@dataclass(frozen=True)
class Principal:
    """Who called: the token's subject and issuer, its scopes, and the client it was issued to."""

    sub: str
    iss: str
    client_id: str
    scopes: frozenset[str] = frozenset()
    kind: Literal["jwt", "cds", "static"] = "jwt"
    #: the healthcare organisation a CDS client called for (the CDS JWT's tenant), when it says
    tenant: str | None = None

    @property
    def key(self) -> str:
        """One client, across its tokens: what the rate limit counts by."""
        return f"{self.kind}|{self.iss}|{self.client_id}"


class Refused(Exception):
    """A request that may not pass: 401 (no or bad credentials), 403 (missing scope) or 502 (keys unreadable).

    `error` is RFC 6750's error code for the WWW-Authenticate header (none when no token was given).
    """

    def __init__(
        self, status: int, description: str, *, error: str | None = "invalid_token", scope: str | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.error = error
        self.scope = scope

    def __str__(self) -> str:
        return self.description

    @property
    def challenge(self) -> str:
        parts = ['Bearer realm="trialmatch"']
        if self.error:
            parts.append(f'error="{self.error}"')
            parts.append(f'error_description="{self.description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return ", ".join(parts)


def bearer(header: str | None) -> str:
    """The token of an `Authorization: Bearer ...` header."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, "a bearer token is required", error=None)
    return token.strip()


def algorithms(settings: Settings) -> list[str]:
    chosen = [a.strip() for a in settings.jwt_algorithms.split(",") if a.strip()]
    wrong = [a for a in chosen if a not in ASYMMETRIC]
    if wrong or not chosen:
        raise ConfigurationError(
            f"TRIALMATCH_JWT_ALGORITHMS: {', '.join(wrong) or 'none given'}: only asymmetric algorithms "
            f"({', '.join(sorted(ASYMMETRIC))}) may sign a caller's token"
        )
    return chosen


class _Keys:
    """JWK Sets by URL, each fetched once and kept JWKS_LIFESPAN seconds (PyJWKClient refetches on an unknown kid)."""

    def __init__(self) -> None:
        self._clients: dict[str, PyJWKClient] = {}
        self._lock = threading.Lock()

    def key(self, url: str, kid: str | None) -> Any:
        with self._lock:
            client = self._clients.get(url)
            if client is None:
                client = PyJWKClient(url, cache_keys=True, lifespan=JWKS_LIFESPAN, timeout=JWKS_TIMEOUT)
                self._clients[url] = client
        if not kid:
            raise Refused(401, "the token names no key (kid)")
        try:
            return client.get_signing_key(kid).key
        except jwt.PyJWKClientConnectionError as exc:
            raise Refused(502, "the issuer's key set could not be read", error=None) from exc
        except (jwt.PyJWKClientError, jwt.InvalidKeyError) as exc:
            raise Refused(401, "the token's key is not in the issuer's key set") from exc


def _key_file(path: Path) -> dict[str | None, Any]:
    """A key file: a JWKS (keys by kid) or one PEM public key (for any kid)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigurationError(f"TRIALMATCH_JWT_KEY_FILE: cannot read {path}: {exc.strerror}") from exc
    try:
        if text.lstrip().startswith("{"):
            keys = PyJWKSet.from_dict(json.loads(text)).keys
            return {k.key_id: k.key for k in keys}
        return {None: load_pem_public_key(text.encode())}
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise ConfigurationError(f"TRIALMATCH_JWT_KEY_FILE: {path} holds no usable public key: {exc}") from exc


def _decode(token: str, key: Any, algs: list[str], **checks: Any) -> dict[str, Any]:
    """The claims of a token whose signature, issuer, audience and times hold; Refused saying which does not."""
    try:
        claims: dict[str, Any] = jwt.decode(token, key, algorithms=algs, **checks)
    except jwt.ExpiredSignatureError as exc:
        raise Refused(401, "the token has expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise Refused(401, "the token is not valid yet") from exc
    except jwt.InvalidAudienceError as exc:
        raise Refused(401, "the token is not meant for this service (aud)") from exc
    except jwt.InvalidIssuerError as exc:
        raise Refused(401, "the token's issuer is not trusted") from exc
    except jwt.InvalidSignatureError as exc:
        raise Refused(401, "the token's signature does not verify") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise Refused(401, f"the token has no {exc.claim} claim") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise Refused(401, "the token's algorithm is not accepted") from exc
    except jwt.PyJWTError as exc:
        raise Refused(401, "the token cannot be read") from exc
    return claims


def _header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Refused(401, "the token cannot be read") from exc


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    """OAuth scopes: `scope` (RFC 9068, space-separated) or `scp` (a list, or a string, as some servers send)."""
    found: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(str(v) for v in value)
    return frozenset(found)


class RestVerifier:
    """REST callers' JWTs: one issuer, this API's audience, keys from its JWKS URL or a key file."""

    def __init__(self, settings: Settings, keys: _Keys) -> None:
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.jwks_url = settings.jwks_url
        self.leeway = settings.jwt_leeway
        self.algorithms = algorithms(settings)
        self._keys = keys
        self._file = _key_file(settings.jwt_key_file) if settings.jwt_key_file else None
        sources = [s for s in (settings.jwks_url, settings.jwt_key_file) if s]
        if len(sources) > 1:
            raise ConfigurationError("set TRIALMATCH_JWKS_URL or TRIALMATCH_JWT_KEY_FILE, not both")
        if (sources or self.issuer or self.audience) and not (sources and self.issuer and self.audience):
            raise ConfigurationError(
                "JWT callers need TRIALMATCH_JWT_ISSUER, TRIALMATCH_JWT_AUDIENCE and TRIALMATCH_JWKS_URL "
                "(or TRIALMATCH_JWT_KEY_FILE) together"
            )

    @property
    def configured(self) -> bool:
        return self.issuer is not None

    def verify(self, token: str) -> Principal:
        if not self.configured:
            raise Refused(401, "this service accepts no JWT callers (no issuer configured)")
        kid = _header(token).get("kid")
        if self._file is not None:
            key = self._file.get(kid) or self._file.get(None)
            if key is None:
                raise Refused(401, "the token's key is not in the configured key file")
        else:
            key = self._keys.key(str(self.jwks_url), kid)
        claims = _decode(
            token,
            key,
            self.algorithms,
            audience=self.audience,
            issuer=self.issuer,
            leeway=self.leeway,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
        sub = str(claims["sub"])
        client = claims.get("client_id") or claims.get("azp") or sub
        return Principal(sub=sub, iss=str(claims["iss"]), client_id=str(client), scopes=_scopes(claims))


class ReplayGuard:
    """The jti of every CDS JWT seen, kept until the token expires: a second use is refused. Kept in the limits
    storage, so that workers sharing one (redis://...) refuse a token another worker saw."""

    def __init__(self, storage: Storage, clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.clock = clock

    def first_use(self, iss: str, jti: str, until: float) -> bool:
        key = "trialmatch/jti/" + hashlib.sha256(f"{iss}\n{jti}".encode()).hexdigest()
        return self.storage.incr(key, max(1, math.ceil(until - self.clock()))) == 1


class CdsVerifier:
    """CDS Hooks 2.0 client JWTs: issuer on the allow-list, its key (jku only when allowed), aud = the endpoint
    called, a short life, and a jti never seen before."""

    def __init__(self, settings: Settings, keys: _Keys, replay: ReplayGuard) -> None:
        self.clients = settings.cds_clients
        self.base = (settings.public_url or "").rstrip("/")
        self.lifetime = settings.cds_token_lifetime
        self.leeway = settings.jwt_leeway
        self.algorithms = algorithms(settings)
        self._keys = keys
        self._replay = replay
        if self.clients and not self.base:
            raise ConfigurationError(
                "TRIALMATCH_CDS_CLIENTS needs TRIALMATCH_PUBLIC_URL: a CDS client's JWT names the URL it calls (aud)"
            )

    def verify(self, token: str, path: str) -> Principal:
        header = _header(token)
        if str(header.get("typ", "")).upper() != "JWT":
            raise Refused(401, "a CDS client's token must have typ JWT")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Refused(401, "the token cannot be read") from exc
        iss = unverified.get("iss")
        client = self.clients.get(iss) if isinstance(iss, str) else None
        if client is None or not isinstance(iss, str):
            raise Refused(401, "the token's issuer is not a trusted CDS client")
        jku = header.get("jku")
        if jku is not None and jku not in client.jku:
            raise Refused(401, "the token's jku is not on its issuer's allowed list")
        key = self._keys.key(str(jku or client.jwks_url), header.get("kid"))
        claims = _decode(
            token,
            key,
            self.algorithms,
            audience=f"{self.base}{path}",
            issuer=iss,
            leeway=self.leeway,
            options={"require": ["exp", "iat", "iss", "aud", "jti"]},
        )
        if float(claims["exp"]) - float(claims["iat"]) > self.lifetime:
            raise Refused(401, f"the token lives longer than {self.lifetime} seconds")
        if not self._replay.first_use(iss, str(claims["jti"]), float(claims["exp"]) + self.leeway):
            raise Refused(401, "the token was used before (jti)")
        sub = str(claims.get("sub") or iss)
        tenant = claims.get("tenant")
        # the client is the registered issuer: `sub` is the client's own choice, so counting by it would let a
        # client escape the rate limit by changing it
        return Principal(sub=sub, iss=iss, client_id=iss, kind="cds", tenant=str(tenant) if tenant else None)


class StaticToken:
    """The development token: accepted only when explicitly allowed; it grants every scope."""

    def __init__(self, settings: Settings) -> None:
        given = settings.api_token.get_secret_value() if settings.api_token else None
        self.token = given if settings.allow_static_token else None

    def matches(self, token: str) -> Principal | None:
        if self.token is None or not secrets.compare_digest(token.encode(), self.token.encode()):
            return None
        return Principal(
            sub="development", iss="trialmatch", client_id="development", scopes=frozenset(SCOPES), kind="static"
        )


class Authenticator:
    """Everything that decides who a request comes from."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        keys = _Keys()
        self.rest = RestVerifier(settings, keys)
        self.cds = CdsVerifier(settings, keys, ReplayGuard(storage))
        self.static = StaticToken(settings)

    def rest_caller(self, header: str | None) -> Principal:
        token = bearer(header)
        return self.static.matches(token) or self.rest.verify(token)

    def cds_caller(self, header: str | None, path: str) -> Principal:
        token = bearer(header)
        return self.static.matches(token) or self.cds.verify(token, path)
