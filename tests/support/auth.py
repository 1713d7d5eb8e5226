"""Authenticating to the API in tests: the development token explicitly enabled, or JWTs signed with keys made
here and published as a JWKS by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pydantic import SecretStr

from matcher.settings import Settings

DEV_TOKEN = "test-development-token"
#: the header the development token is sent in; pass it as `TestClient(app, headers=DEV_HEADERS)`
DEV_HEADERS = {"Authorization": f"Bearer {DEV_TOKEN}"}


def dev_settings(**settings: Any) -> Settings:
    """Settings (no .env) that accept the development token, with every scope, and no rate limit unless given."""
    given: dict[str, Any] = {"rate_limit": "", **settings}
    return Settings(_env_file=None, api_token=SecretStr(DEV_TOKEN), allow_static_token=True, **given)


@dataclass
class Issuer:
    """An identity provider: its signing key (RSA for RS*/PS*, EC P-384 for ES384), its kid and issuer URL."""

    url: str
    alg: str = "RS384"
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    key: Any = None

    def __post_init__(self) -> None:
        if self.key is None:
            self.key = ec.generate_private_key(ec.SECP384R1()) if self.alg.startswith("ES") else _rsa()

    def jwk(self) -> dict[str, Any]:
        public = self.key.public_key()
        algorithm = ECAlgorithm if self.alg.startswith("ES") else RSAAlgorithm
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(public))
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def token(self, claims: dict[str, Any] | None = None, *, headers: dict[str, Any] | None = None, **more: Any) -> str:
        """A signed JWT: iss, iat, exp (+5 min) and jti filled in; `claims` and keywords override them."""
        now = int(time.time())
        body = {"iss": self.url, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex, **(claims or {}), **more}
        return jwt.encode(
            {k: v for k, v in body.items() if v is not None},
            self.key,
            algorithm=self.alg,
            headers={"kid": self.kid, "typ": "JWT", **(headers or {})},
        )


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class JwksServer:
    """A JWKS endpoint on 127.0.0.1: `sets[path]` is served as {"keys": [...]}; `hits` counts the requests."""

    def __init__(self) -> None:
        self.sets: dict[str, list[dict[str, Any]]] = {}
        self.hits: dict[str, int] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                keys = owner.sets.get(self.path)
                owner.hits[self.path] = owner.hits.get(self.path, 0) + 1
                body = json.dumps({"keys": keys}).encode() if keys is not None else b"{}"
                self.send_response(200 if keys is not None else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def publish(self, path: str, *issuers: Issuer) -> str:
        """Serve these issuers' public keys at `path`; the URL."""
        self.sets[path] = [i.jwk() for i in issuers]
        return f"{self.base}{path}"


@contextmanager
def jwks_server() -> Iterator[JwksServer]:
    served = JwksServer()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()
        thread.join()
