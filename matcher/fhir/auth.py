"""Authentication to the FHIR server: none, a static bearer token, or SMART Backend Services (private_key_jwt)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import httpx
import jwt
from cachetools import TTLCache

from matcher.errors import AuthorizationError, ConfigurationError, UpstreamError, UpstreamTimeoutError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: a token is renewed this many seconds before it expires
EXPIRY_MARGIN = 60.0
#: the lifetime of a client assertion; the SMART spec allows at most five minutes
ASSERTION_LIFETIME = 300


class Auth(Protocol):
    """What the FHIR client asks of an authentication scheme."""

    async def headers(self, client: httpx.AsyncClient) -> dict[str, str]: ...

    def invalidate(self, used: str | None = None) -> None:
        """The server answered 401 to `used` (the Authorization header sent): forget that credential."""


class NoAuth:
    async def headers(self, client: httpx.AsyncClient) -> dict[str, str]:
        return {}

    def invalidate(self, used: str | None = None) -> None:
        return None


class BearerAuth:
    def __init__(self, token: str) -> None:
        self._header = {"Authorization": f"Bearer {token}"}

    async def headers(self, client: httpx.AsyncClient) -> dict[str, str]:
        return self._header

    def invalidate(self, used: str | None = None) -> None:
        return None


class SmartBackendAuth:
    """SMART Backend Services: client_credentials with a signed client assertion (RS384 or ES384).

    The access token is kept in a TTL cache until shortly before it expires (the cache's timer is
    injectable for tests); a 401 from the FHIR server invalidates it. The signing is PyJWT's.
    """

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        private_key: str,
        alg: str = "RS384",
        kid: str | None = None,
        scope: str = "system/*.read",
        token_url: str | None = None,
        timer: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.private_key = private_key
        self.alg = alg
        self.kid = kid
        self.scope = scope
        self.token_url = token_url
        self._clock = clock
        self._tokens: TTLCache[str, str] = TTLCache(maxsize=1, ttl=3600, timer=timer)
        self._ttl_timer = timer
        self._lock = asyncio.Lock()

    @classmethod
    def from_key_file(cls, key_file: Path, **kwargs: object) -> SmartBackendAuth:
        try:
            pem = key_file.read_text(encoding="ascii")
        except OSError as exc:
            raise ConfigurationError(f"cannot read the SMART private key {key_file}: {exc.strerror}") from None
        return cls(private_key=pem, **kwargs)  # type: ignore[arg-type]

    async def headers(self, client: httpx.AsyncClient) -> dict[str, str]:
        token = self._tokens.get("token")
        if token is None:
            async with self._lock:  # one token request at a time, however many searches wait for it
                token = self._tokens.get("token") or await self._fetch(client)
        return {"Authorization": f"Bearer {token}"}

    def invalidate(self, used: str | None = None) -> None:
        """Forget the token, unless another request has already replaced the one that was refused."""
        current = self._tokens.get("token")
        if used is None or current is None or used == f"Bearer {current}":
            self._tokens.clear()

    def assertion(self, token_url: str) -> str:
        now = int(self._clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": str(uuid.uuid4()),
        }
        headers = {"typ": "JWT", **({"kid": self.kid} if self.kid else {})}
        return jwt.encode(claims, self.private_key, algorithm=self.alg, headers=headers)

    async def _discover(self, client: httpx.AsyncClient) -> str:
        url = f"{self.base_url}/.well-known/smart-configuration"
        try:
            response = await client.get(url, headers={"Accept": "application/json"})
        except httpx.TimeoutException:
            raise UpstreamTimeoutError("SMART configuration did not answer in time", url=url) from None
        except httpx.TransportError as exc:
            raise UpstreamError(f"SMART configuration unreachable ({type(exc).__name__})", url=url) from None
        endpoint = _json_object(response).get("token_endpoint") if response.status_code == 200 else None
        if not isinstance(endpoint, str):
            raise AuthorizationError(
                "no token_endpoint in the SMART configuration", url=url, status=response.status_code
            )
        return endpoint

    async def _fetch(self, client: httpx.AsyncClient) -> str:
        token_url = self.token_url = self.token_url or await self._discover(client)
        form = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(token_url),
        }
        try:
            response = await client.post(token_url, data=form, headers={"Accept": "application/json"})
        except httpx.TimeoutException:
            raise UpstreamTimeoutError("the token endpoint did not answer in time", url=token_url) from None
        except httpx.TransportError as exc:
            raise UpstreamError(f"the token endpoint is unreachable ({type(exc).__name__})", url=token_url) from None
        if response.status_code != 200:
            raise AuthorizationError(
                "the token endpoint refused the client credentials", url=token_url, status=response.status_code
            )
        body = _json_object(response)
        token = body.get("access_token")
        if not isinstance(token, str):
            raise AuthorizationError("the token endpoint answered without an access_token", url=token_url, status=200)
        lifetime = body.get("expires_in", 300)
        expires_in = float(lifetime) if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) else 300.0
        ttl = max(expires_in - EXPIRY_MARGIN, 1.0)
        self._tokens = TTLCache(maxsize=1, ttl=ttl, timer=self._ttl_timer)
        self._tokens["token"] = token
        return token


def _json_object(response: httpx.Response) -> dict[str, object]:
    """The JSON object an OAuth or SMART endpoint answered; empty when it answered anything else."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
