"""`Annotated` dependency aliases for routes: the runtime, the settings and paging."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from service.runtime import Runtime
from service.settings import Settings


def get_runtime(request: Request) -> Runtime:
    """The app's runtime (given to the app factory, or built and loaded on startup or first use)."""
    runtime: Runtime | None = request.app.state.runtime
    if runtime is None:  # used without its lifespan (e.g. a TestClient outside `with`)
        runtime = request.app.state.startup(request.app)
    assert runtime is not None
    return runtime


def get_app_settings(request: Request) -> Settings:
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
