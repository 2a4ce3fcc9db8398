"""Plain ASGI middleware: Prometheus request metrics (by matched route template) and the
request body size limit (413, by Content-Length or while the body streams in).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matcher.engine import Side
from service.runtime import Runtime


class _IndexCollector:
    """Gauges read at scrape time: records in the live index and whether it is stale."""

    def __init__(self, runtime: Callable[[], Runtime | None]) -> None:
        self._runtime = runtime

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        rt = self._runtime()
        records = GaugeMetricFamily("partnermatch_index_records", "Records in the live index", labels=["side"])
        stale = GaugeMetricFamily("partnermatch_index_stale", "1 when the index is behind the store")
        if rt is not None:
            sides: tuple[Side, ...] = ("need", "profile")
            for side in sides:
                records.add_metric([side], len(rt.engine.ids(side)))
            stale.add_metric([], 1.0 if rt.index_stale else 0.0)
        yield records
        yield stale


class Metrics:
    """A registry per app (tests build many apps): request counts, latencies, index size."""

    def __init__(self, runtime: Callable[[], Runtime | None]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("partnermatch_http_requests", "HTTP requests by method, route template and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("partnermatch_http_request_duration_seconds", "HTTP request latency by route template",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
        self.registry.register(_IndexCollector(runtime))


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (never by its raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = JSONResponse(body).body  # rendered as every other error is (compact, UTF-8)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})


class BodyLimitMiddleware:
    """Refuses request bodies over `max_bytes` with a JSON 413: by Content-Length, or while streaming.

    (FastAPI's own `max_body_size` answers a declared length in plain text, outside the
    app's error handlers; the API promises one JSON error shape.) The body is buffered,
    at most `max_bytes` of it, and replayed to the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = {"detail": f"request body larger than {self.max_bytes} bytes", "field": "body"}
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and not declared.strip().isdigit():
            await _send_json(send, 400, {"detail": "invalid Content-Length header", "field": None})
            return
        if declared is not None and int(declared) > self.max_bytes:
            await _send_json(send, 413, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        first: Message | None = None
        while first is None:
            message = await receive()
            if message["type"] != "http.request":
                first = message  # a disconnect: hand it on as is
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await _send_json(send, 413, too_large)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return first
            return await receive()

        await self.app(scope, replay, send)
