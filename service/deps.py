"""`Annotated` dependency aliases for routes: the runtime, the settings and paging."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from service.runtime import Runtime
from service.settings import Settings

# Dependencies that never block are `async def`: FastAPI runs a sync dependency in the
# thread pool, one hand-off (~0.13 ms on 2 cores) per dependency per request.


async def get_runtime(request: Request) -> Runtime:
    """The app's runtime (given to the app factory, or built and loaded on startup or first use)."""
    runtime: Runtime | None = request.app.state.runtime
    if runtime is None:  # used without its lifespan (e.g. a TestClient outside `with`)
        runtime = await run_in_threadpool(request.app.state.startup, request.app)
    assert runtime is not None
    return runtime


async def get_app_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


class Paging:
    """`?limit=&offset=` of list endpoints."""

    def __init__(self, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                 offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> None:
        self.limit = limit
        self.offset = offset


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
PagingDep = Annotated[Paging, Depends()]
Top = Annotated[int, Query(ge=1, le=100, description="how many candidates")]
