"""The HTTP service: `create_app()` builds the FastAPI app explicitly (the CLI and tests call it).

On startup the app builds `Runtime(settings)` (unless given one) and loads the index from
the current snapshot, or rebuilds it from the store. Routes are thin: auth and access
rules live in service.auth, error mapping in service.errors, writes in service.runtime.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from matcher.errors import PartnermatchError
from service.errors import install_error_handlers
from service.middleware import BodyLimitMiddleware, Metrics, MetricsMiddleware
from service.ratelimit import SlidingWindowLimiter
from service.routers import decisions, gaps, health, keys, match, needs, profiles, rounds
from service.routers.common import API_PREFIX
from service.runtime import Runtime
from service.settings import Settings, get_settings
from service.web import mount_web

log = logging.getLogger("partnermatch")


def _startup(app: FastAPI) -> Runtime:
    """Build the runtime if needed and load its index; a load failure leaves /readyz at 503."""
    with app.state.runtime_lock:
        if app.state.runtime is None:
            app.state.runtime = Runtime(app.state.settings, freeze_heap=getattr(app.state, "freeze_heap", False))
        runtime: Runtime = app.state.runtime
        if runtime.loaded_version < 0:
            try:
                how = runtime.load()
                log.info("index %s: %d profiles, %d open needs", how, len(runtime.engine.ids("profile")),
                         len(runtime.engine.ids("need")))
            except PartnermatchError as exc:
                log.error("index not loaded (%s: %s); /readyz reports 503 until it is", type(exc).__name__, exc)
        return runtime


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime = await run_in_threadpool(_startup, app)
    yield
    await run_in_threadpool(runtime.close)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """A new app over `runtime` (or one built from `settings`, default: the environment's)."""
    settings = settings or (runtime.settings if runtime is not None else get_settings())
    app = FastAPI(
        title="partnermatch",
        version="1",
        summary="Matches LMIC health institutions' needs with UK partner institutions",
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.runtime_lock = threading.Lock()
    app.state.startup = _startup
    app.state.limiter = SlidingWindowLimiter(settings.submissions_per_minute, 60.0)
    app.state.metrics = Metrics(lambda: app.state.runtime)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)  # outermost: sees every response
    for module in (needs, decisions, profiles, match, gaps, keys, rounds):
        app.include_router(module.router)
    app.include_router(health.router, prefix=API_PREFIX)
    app.include_router(health.router, include_in_schema=False)  # /healthz, /readyz, /metrics for probes
    mount_web(app)  # the HTML pages, /static and the session cookie (service/web)
    return app


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the app with uvicorn (used by `partnermatch serve`)."""
    import uvicorn

    from matcher.candidates import limit_blas_threads

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)  # the CLI may have configured WARNING; a server reports its index at start
    app = create_app(get_settings())  # imports numpy, and so loads its BLAS
    app.state.freeze_heap = True  # a long-lived server: loaded records leave the cyclic GC (Runtime)
    # Requests are the server's unit of parallelism, and a second BLAS thread keeps spinning
    # on the other core after each product: bench_http measured 27 ms of server CPU per
    # uncached need-matches request with it, 15 ms without. The one product that gains from
    # two cores splits itself (matcher.candidates.dense_scores).
    limit_blas_threads()
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=10)
