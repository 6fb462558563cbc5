"""Dependencies shared by the routers: the ``Services`` of the app, and bearer-key auth for /v1.

The key is read from ``services.settings`` on each request (never at import), and compared in
constant time. Both are ``async``: FastAPI runs a plain ``def`` dependency in its thread pool, a thread
hop per dependency and request for work that never blocks.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from assistant.api.errors import Unauthorized
from assistant.services import Services

_bearer = HTTPBearer(auto_error=False, description="Required when ASSISTANT_API_KEY is set")


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def require_api_key(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Let the request through when no key is configured, or when it carries the right bearer key."""
    expected = services.settings.api_key.get_secret_value()
    if not expected:
        return
    if credentials is None:
        raise Unauthorized("missing API key: send the header `Authorization: Bearer <key>`")
    if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise Unauthorized("wrong API key")
