"""Dependencies shared by the routers, as `Annotated` aliases that keep signatures short."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from api.runtime import Runtime

__all__ = ["RuntimeDep", "get_runtime", "in_domain"]

T = TypeVar("T")


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def in_domain(work: Callable[[], T]) -> T:
    """Run a SECI operation in the thread pool; the ValueError it raises for a request it
    cannot do (merge an item with itself, an unknown rating) is a 422 with its message.
    A pydantic ValidationError is a bug of ours, not of the request: it stays a 500."""
    try:
        return await run_in_threadpool(work)
    except ValidationError:
        raise
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
