"""Operations over HTTP and CLI: health, readiness, metrics, API keys, and no needs text in logs."""
from __future__ import annotations

import json
import logging

import pytest
from api_helpers import API, STROKE_NEED, Keys, bearer
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.app import create_app
from service.cli import main
from service.models import ApiKeyRow
from service.runtime import Runtime


def test_healthz_and_readyz_need_no_key(client: TestClient, runtime: Runtime) -> None:
    assert client.get(f"{API}/healthz").json() == {"status": "ok"}
    assert client.get("/healthz").status_code == 200
    r = client.get(f"{API}/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["ready"] is True and body["index_stale"] is False
    assert body["store"] == {"reachable": True, "version": runtime.store.version()}
    assert body["index"]["version"] == runtime.snapshot_name and body["index"]["counts"] == {"need": 5, "profile": 5}


def test_readyz_is_503_when_the_store_is_unreachable(client: TestClient, runtime: Runtime,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime.store, "ping", lambda: False)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["store"]["reachable"] is False


def test_readyz_reports_a_stale_index_after_another_writer(client: TestClient, runtime: Runtime) -> None:
    runtime.store.save_need(runtime.store.needs()[0])  # as if another process wrote
    assert client.get("/readyz").json()["index_stale"] is True


def test_metrics_count_requests_by_route_template(client: TestClient, keys: Keys) -> None:
    client.get(f"{API}/needs/n-stroke-en", headers=bearer(keys.staff))
    client.get(f"{API}/needs/n-kidney-en", headers=bearer(keys.staff))
    client.get(f"{API}/needs/n-nope", headers=bearer(keys.staff))
    text = client.get(f"{API}/metrics").text
    assert 'partnermatch_http_requests_total{method="GET",route="/api/v1/needs/{need_id}",status="200"} 2.0' in text
    assert 'route="/api/v1/needs/{need_id}",status="404"} 1.0' in text
    assert "n-stroke-en" not in text
    assert 'partnermatch_index_records{side="need"} 5.0' in text
    assert "partnermatch_http_request_duration_seconds_bucket" in text


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/needs/{need_id}/matches" in spec["paths"]
    assert spec["components"]["securitySchemes"]["ApiKey"]["scheme"].lower() == "bearer"
    assert client.get("/docs").status_code == 200


def test_admin_manages_keys_over_http(client: TestClient, keys: Keys) -> None:
    r = client.post(f"{API}/keys", headers=bearer(keys.admin), json={"role": "submitter", "institution": "Tete"})
    assert r.status_code == 201
    created = r.json()
    assert created["key"].startswith("pm_") and created["institution"] == "Tete"
    assert client.get(f"{API}/needs", headers=bearer(created["key"])).status_code == 200
    listed = client.get(f"{API}/keys", headers=bearer(keys.admin)).json()
    assert created["id"] in [k["id"] for k in listed] and all("key" not in k for k in listed)
    assert client.delete(f"{API}/keys/{created['id']}", headers=bearer(keys.admin)).json()["revoked_at"]
    assert client.get(f"{API}/needs", headers=bearer(created["key"])).status_code == 401
    assert client.delete(f"{API}/keys/nosuchkey", headers=bearer(keys.admin)).status_code == 404
    r = client.post(f"{API}/keys", headers=bearer(keys.admin), json={"role": "partner"})
    assert r.status_code == 422 and r.json()["field"] == "profile_id"
    for key in (keys.staff, keys.submitter, keys.partner):
        assert client.get(f"{API}/keys", headers=bearer(key)).status_code == 403


def test_an_admin_cannot_revoke_the_key_it_uses(client: TestClient, keys: Keys, runtime: Runtime) -> None:
    own = next(k["id"] for k in client.get(f"{API}/keys", headers=bearer(keys.admin)).json() if k["role"] == "admin")
    assert client.delete(f"{API}/keys/{own}", headers=bearer(keys.admin)).status_code == 409


def test_keys_cli_prints_the_secret_once_and_stores_its_hash(runtime: Runtime) -> None:
    cli = CliRunner()
    out = cli.invoke(main, ["keys", "create", "--role", "partner", "--profile", "p-stroke", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert set(doc) >= {"key", "role", "id", "institution", "profile_id"} and doc["profile_id"] == "p-stroke"
    with runtime.store.read() as s:
        stored = s.scalars(select(ApiKeyRow)).all()
    assert all(doc["key"] not in (r.key_hash, r.id) for r in stored)
    listed = cli.invoke(main, ["keys", "list", "--json"])
    assert doc["key"] not in listed.stdout and doc["id"] in listed.stdout
    with TestClient(create_app(runtime=runtime)) as client:
        assert client.get(f"{API}/profiles/p-stroke/matches", headers=bearer(doc["key"])).status_code == 200
        assert cli.invoke(main, ["keys", "revoke", doc["id"]]).exit_code == 0
        assert client.get(f"{API}/profiles/p-stroke/matches", headers=bearer(doc["key"])).status_code == 401
    assert cli.invoke(main, ["keys", "revoke", "nosuchkey"]).exit_code == 2
    assert cli.invoke(main, ["keys", "create", "--role", "submitter", "--json"]).exit_code == 2


def test_needs_text_never_reaches_the_logs(client: TestClient, keys: Keys, runtime: Runtime,
                                          caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_text = "Patient Amara Mensah, 34, of Ward 7 had a stroke; we need stroke unit training for nurses."
    caplog.set_level(logging.DEBUG)
    nid = client.post(f"{API}/needs", headers=bearer(keys.submitter),
                      json={**STROKE_NEED, "description": secret_text}).json()["id"]
    client.patch(f"{API}/needs/{nid}", headers=bearer(keys.submitter), json={"description": secret_text + " Urgent."})
    client.post(f"{API}/needs", headers=bearer(keys.submitter), json={**STROKE_NEED, "description": secret_text,
                                                                       "country": "QQ"})
    client.post(f"{API}/match", headers=bearer(keys.staff), json={"text": secret_text})

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(secret_text)

    monkeypatch.setattr(runtime.engine, "analyse", broken)
    client.post(f"{API}/needs", headers=bearer(keys.submitter), json={**STROKE_NEED, "description": secret_text})
    monkeypatch.undo()
    client.delete(f"{API}/needs/{nid}", headers=bearer(keys.submitter))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Amara" not in logged and "index update" in logged
