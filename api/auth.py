"""Who is asking, and whether they may: `Authorization: Bearer KEY` on every route but the
probes.

A key is the settings' admin key (`SPIRAL_ADMIN_KEY`, the first admin, no account needed) or
one issued to an account in the store (api/accounts.py). No key, or an unknown, revoked or
disabled one, is a 401 with `WWW-Authenticate: Bearer`; a role a route does not allow is a 403.
In dev mode (`spiral serve --dev`) a request without a key acts as an admin; a key sent is still
checked, so roles can be tried out locally.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.accounts import Principal
from api.deps import RuntimeDep
from graph.model import ROLES, Role

__all__ = [
    "ADMIN_KEY_ACCOUNT",
    "DEV_ACCOUNT",
    "CurrentUser",
    "Principal",
    "current_user",
    "require",
]

ADMIN_KEY_ACCOUNT = "settings:admin-key"
DEV_ACCOUNT = "dev:admin"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}

bearer = HTTPBearer(auto_error=False, description="An API key: `spk_...` or SPIRAL_ADMIN_KEY.")


def current_user(
    rt: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The principal of the request's key (sync: resolving may read the store, so FastAPI runs
    it in its thread pool)."""
    settings = rt.settings
    if credentials is None or not credentials.credentials:
        if settings.dev_mode:
            return Principal(account_id=DEV_ACCOUNT, role="admin", name="dev mode")
        raise HTTPException(401, "an API key is needed: Authorization: Bearer KEY", _CHALLENGE)
    key = credentials.credentials
    admin_key = settings.admin_key.get_secret_value()
    if admin_key and hmac.compare_digest(key.encode(), admin_key.encode()):
        return Principal(account_id=ADMIN_KEY_ACCOUNT, role="admin", name="admin key")
    who = rt.accounts.resolve(key)
    if who is None:
        raise HTTPException(401, "unknown, revoked or disabled API key", _CHALLENGE)
    return who


CurrentUser = Annotated[Principal, Depends(current_user)]


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets only these roles through (403 for the others)."""
    allowed = frozenset(roles or ROLES)

    def check(user: CurrentUser) -> Principal:
        if user.role not in allowed:
            need = ", ".join(r for r in ROLES if r in allowed)
            raise HTTPException(403, f"role {user.role!r} may not do this (needs: {need})")
        return user

    return check
