"""The HTTP API: FastAPI app, routes, wire schemas and error translation."""

from matcher.api.app import create_app

__all__ = ["create_app"]
