"""Liveness, readiness (store reachable, index loaded, versions) and Prometheus metrics."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from service.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", summary="Ready to serve: store reachable and index loaded",
            responses={503: {"description": "Not ready"}})
def readyz(runtime: RuntimeDep) -> JSONResponse:
    """200 when ready, else 503; `index_stale` says the index is behind the store (it refreshes on use)."""
    reachable = runtime.store.ping()
    version: int | None = None
    if reachable:
        try:
            version = runtime.store.version()
        except SQLAlchemyError:
            reachable = False
    loaded = runtime.loaded_version >= 0
    stale = runtime.index_stale or (version is not None and version != runtime.loaded_version)
    body: dict[str, Any] = {
        "ready": reachable and loaded,
        "store": {"reachable": reachable, "version": version},
        "index": {"loaded": loaded, "version": runtime.snapshot_name, "store_version": runtime.loaded_version,
                  "counts": {"need": len(runtime.engine.ids("need")), "profile": len(runtime.engine.ids("profile"))}},
        "index_stale": stale,
    }
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Request counts and latencies by route template; index size."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
