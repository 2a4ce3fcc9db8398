"""Needs over HTTP: submit, read, edit, withdraw, list; roles, visibility and input errors."""
from __future__ import annotations

import json
import re

from api_helpers import API, DAKAR, KORLE_BU, STROKE_NEED, Keys, bearer
from fastapi.testclient import TestClient
from sqlalchemy import select

from matcher.text import sentences
from service.models import NeedRow
from service.runtime import Runtime


def submit(client: TestClient, key: str, **overrides: object) -> dict:
    r = client.post(f"{API}/needs", headers=bearer(key), json={**STROKE_NEED, **overrides})
    assert r.status_code == 201, r.text
    return r.json()


def test_submitter_creates_need_for_its_own_institution(client: TestClient, keys: Keys, runtime: Runtime) -> None:
    r = client.post(f"{API}/needs", headers=bearer(keys.submitter), json=STROKE_NEED)
    assert r.status_code == 201
    body = r.json()
    assert re.fullmatch(r"need-[0-9a-f]{8}", body["id"])
    assert body["institution"] == KORLE_BU
    assert body["status"] == "open"
    assert "stroke" in body["detected_areas"]
    assert r.headers["location"] == f"{API}/needs/{body['id']}"
    assert runtime.store.get_need_row(body["id"]) is not None  # committed before the 201


def test_language_is_detected_when_omitted(client: TestClient, keys: Keys) -> None:
    text = "Nous avons besoin d'aide pour former nos sages-femmes aux urgences obstétricales."
    r = client.post(f"{API}/needs", headers=bearer(keys.submitter), json={"country": "SN", "description": text})
    assert r.status_code == 201
    assert r.json()["language"] == "fr"


def test_submitter_cannot_submit_for_another_institution(client: TestClient, keys: Keys) -> None:
    r = client.post(f"{API}/needs", headers=bearer(keys.submitter), json={**STROKE_NEED, "institution": DAKAR})
    assert r.status_code == 403
    assert r.json()["field"] == "institution"


def test_admin_submits_for_a_named_institution_only(client: TestClient, keys: Keys) -> None:
    r = client.post(f"{API}/needs", headers=bearer(keys.admin), json=STROKE_NEED)
    assert r.status_code == 422 and r.json()["field"] == "institution"
    r = client.post(f"{API}/needs", headers=bearer(keys.admin), json={**STROKE_NEED, "institution": DAKAR})
    assert r.status_code == 201 and r.json()["institution"] == DAKAR


def test_staff_and_partners_may_never_submit(client: TestClient, keys: Keys) -> None:
    for key in (keys.staff, keys.partner):
        r = client.post(f"{API}/needs", headers=bearer(key), json=STROKE_NEED)
        assert r.status_code == 403, r.text


def test_missing_invalid_or_revoked_key_is_401(client: TestClient, keys: Keys, runtime: Runtime) -> None:
    from service.keys import create_key, revoke_key

    r = client.get(f"{API}/needs")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert client.get(f"{API}/needs", headers=bearer("pm_not-a-key")).status_code == 401
    assert client.get(f"{API}/needs", headers={"Authorization": "Basic abc"}).status_code == 401
    secret, row = create_key(runtime.store, "staff")
    assert client.get(f"{API}/needs", headers=bearer(secret)).status_code == 200
    revoke_key(runtime.store, row.id)
    assert client.get(f"{API}/needs", headers=bearer(secret)).status_code == 401


def test_another_institutions_need_is_404_like_a_missing_one(client: TestClient, keys: Keys) -> None:
    dakar = "n-stroke-fr"
    for method, path, body in [("GET", f"/needs/{dakar}", None), ("PATCH", f"/needs/{dakar}", {"country": "GH"}),
                               ("DELETE", f"/needs/{dakar}", None), ("GET", f"/needs/{dakar}/matches", None),
                               ("GET", f"/needs/{dakar}/decisions", None)]:
        r = client.request(method, API + path, headers=bearer(keys.submitter), json=body)
        missing = client.request(method, API + path.replace(dakar, "n-nope"), headers=bearer(keys.submitter),
                                 json=body)
        assert (r.status_code, missing.status_code) == (404, 404), (method, path)
        assert r.json()["detail"].replace(dakar, "X") == missing.json()["detail"].replace("n-nope", "X")
    assert client.get(f"{API}/needs/{dakar}", headers=bearer(keys.other_submitter)).status_code == 200


def test_lists_show_what_each_role_may_see(client: TestClient, keys: Keys) -> None:
    own = submit(client, keys.submitter)["id"]
    client.delete(f"{API}/needs/{own}", headers=bearer(keys.submitter))

    def ids(key: str, query: str = "") -> list[str]:
        return [n["id"] for n in client.get(f"{API}/needs{query}", headers=bearer(key)).json()["items"]]

    assert ids(keys.submitter) == sorted(["n-stroke-en", own])
    assert ids(keys.other_submitter) == ["n-stroke-fr"]
    assert own not in ids(keys.partner) and len(ids(keys.partner)) == 5
    assert ids(keys.partner, "?status=withdrawn") == []
    assert len(ids(keys.staff)) == 6 and ids(keys.staff, "?status=withdrawn") == [own]
    page = client.get(f"{API}/needs?limit=2&offset=1", headers=bearer(keys.admin)).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (6, 2, 1, 2)
    assert client.get(f"{API}/needs?limit=0", headers=bearer(keys.admin)).json()["field"] == "limit"


def test_partner_reads_open_needs_but_not_withdrawn_ones(client: TestClient, keys: Keys) -> None:
    nid = submit(client, keys.submitter)["id"]
    assert client.get(f"{API}/needs/{nid}", headers=bearer(keys.partner)).status_code == 200
    client.delete(f"{API}/needs/{nid}", headers=bearer(keys.submitter))
    assert client.get(f"{API}/needs/{nid}", headers=bearer(keys.partner)).status_code == 404
    assert client.get(f"{API}/needs/{nid}", headers=bearer(keys.staff)).json()["status"] == "withdrawn"


def test_patch_changes_fields_and_the_index(client: TestClient, keys: Keys, runtime: Runtime) -> None:
    nid = submit(client, keys.submitter)["id"]
    old_text = STROKE_NEED["description"]
    new_text = "Mothers bleed after childbirth; our midwives need emergency obstetric training for haemorrhage."
    r = client.patch(f"{API}/needs/{nid}", headers=bearer(keys.submitter),
                     json={"description": new_text, "country": "mz"})
    assert r.status_code == 200
    assert (r.json()["description"], r.json()["country"]) == (new_text, "MZ")
    assert "maternal_health" in r.json()["detected_areas"]
    top = client.get(f"{API}/needs/{nid}/matches?top=1", headers=bearer(keys.submitter)).json()["matches"][0]
    assert top["profile_id"] == "p-maternity"
    assert cached(runtime, old_text) == 0  # the replaced text left the embedding cache


def test_patch_refuses_nulls_unknown_fields_and_other_roles(client: TestClient, keys: Keys) -> None:
    nid = submit(client, keys.submitter)["id"]
    r = client.patch(f"{API}/needs/{nid}", headers=bearer(keys.submitter), json={"description": None})
    assert r.status_code == 422 and r.json()["field"] == "description"
    r = client.patch(f"{API}/needs/{nid}", headers=bearer(keys.submitter), json={"status": "open"})
    assert r.status_code == 422 and r.json()["field"] == "status"
    assert client.patch(f"{API}/needs/{nid}", headers=bearer(keys.staff), json={}).status_code == 403
    assert client.patch(f"{API}/needs/{nid}", headers=bearer(keys.admin), json={"language": "en"}).status_code == 200


def test_withdrawn_need_cannot_be_edited(client: TestClient, keys: Keys) -> None:
    nid = submit(client, keys.submitter)["id"]
    assert client.delete(f"{API}/needs/{nid}", headers=bearer(keys.submitter)).status_code == 200
    assert client.delete(f"{API}/needs/{nid}", headers=bearer(keys.submitter)).status_code == 200  # idempotent
    assert client.patch(f"{API}/needs/{nid}", headers=bearer(keys.submitter), json={"country": "GH"}).status_code == 409
    assert client.delete(f"{API}/needs/{nid}", headers=bearer(keys.partner)).status_code == 403


def cached(runtime: Runtime, text: str) -> int:
    """How many cache rows hold vectors of `text` or of any of its sentences."""
    enc = runtime.encoder
    derived = {text, *(text[a:b] for a, b in sentences(text)), *runtime.engine.embedding_text(
        text, runtime.engine.detector.detect(text), "en")}
    keys = [enc._key(t, kind) for t in derived for kind in ("query", "passage")]  # type: ignore[union-attr]
    marks = ",".join("?" * len(keys))
    return enc._db.execute(f"SELECT COUNT(*) FROM vectors WHERE key IN ({marks})", keys).fetchone()[0]  # type: ignore[union-attr]


def test_withdrawal_erases_text_index_cache_and_old_snapshots(client: TestClient, keys: Keys,
                                                              runtime: Runtime) -> None:
    nid = submit(client, keys.submitter)["id"]
    text = STROKE_NEED["description"]
    client.get(f"{API}/needs/{nid}/matches", headers=bearer(keys.submitter))  # explanations encode sentences
    client.get(f"{API}/profiles/p-stroke/matches", headers=bearer(keys.partner))
    assert cached(runtime, text) > 0
    runtime.close()  # write the pending snapshot: it holds the need
    runtime.load()  # a restart puts the need's analysis (its stems and phrases) in the analysis cache
    analysis_key = runtime.analyses.key(text, "en", ())
    assert analysis_key in runtime.analyses.get_many([analysis_key])
    r = client.delete(f"{API}/needs/{nid}", headers=bearer(keys.submitter))
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["description"], r.json()["detected_areas"]) == ("withdrawn", None, [])
    with runtime.store.read() as s:
        assert s.scalar(select(NeedRow.description).where(NeedRow.id == nid)) == ""
    assert runtime.engine.get("need", nid) is None
    assert runtime.engine.lexical("need").terms(nid) == []
    assert runtime.engine.index("need").vector(nid) is None
    assert cached(runtime, text) == 0
    assert runtime.analyses.get_many([analysis_key]) == {}
    runtime.close()  # the next snapshot is written, and older ones are deleted
    snaps = [p for p in (runtime.settings.index_dir / "snapshots").iterdir() if not p.name.startswith(".tmp")]
    assert [p.name for p in snaps] == [runtime.snapshot_name]
    assert nid not in (snaps[0] / "need" / "ids.json").read_text()
    counterparts = client.get(f"{API}/profiles/p-stroke/matches?top=50", headers=bearer(keys.partner)).json()
    assert nid not in [m["need_id"] for m in counterparts["matches"]]
    gone = client.get(f"{API}/needs/{nid}/matches", headers=bearer(keys.submitter)).json()
    assert gone["matches"] == [] and "withdrawn" in gone["reason"]


def test_bad_input_is_422_naming_the_field(client: TestClient, keys: Keys) -> None:
    cases = [
        ({**STROKE_NEED, "country": "XX"}, "country"),
        ({**STROKE_NEED, "language": "de"}, "language"),
        ({**STROKE_NEED, "description": "   "}, "description"),
        ({**STROKE_NEED, "description": "x" * 4001}, "description"),
        ({**STROKE_NEED, "description": "bad \x00 byte"}, "description"),
        ({**STROKE_NEED, "preferred_modalities": ["carrier_pigeon"]}, "preferred_modalities.0"),
        ({**STROKE_NEED, "id": "mine"}, "id"),
        ({"description": "no country"}, "country"),
    ]
    for body, field in cases:
        r = client.post(f"{API}/needs", headers=bearer(keys.submitter), json=body)
        assert r.status_code == 422, (field, r.text)
        assert r.json()["field"] == field and field in r.json()["detail"]


def test_undecodable_bodies_are_422_not_500(client: TestClient, keys: Keys) -> None:
    headers = {**bearer(keys.submitter), "Content-Type": "application/json"}
    for raw in (b'{"country": "GH", "descr', b'{"country": "GH", "description": "lone \\ud800 surrogate"}',
                b"\xff\xfe not utf-8", b"[1, 2]"):
        r = client.post(f"{API}/needs", headers=headers, content=raw)
        assert r.status_code == 422, (raw, r.text)
        assert r.json()["field"] in ("body", "description")
    assert client.get(f"{API}/needs/%00", headers=bearer(keys.staff)).json()["field"] == "need_id"


def test_oversize_bodies_are_413_declared_or_streamed(client: TestClient, keys: Keys) -> None:
    big = {**STROKE_NEED, "description": "word " * 5000}
    r = client.post(f"{API}/needs", headers=bearer(keys.submitter), json=big)
    assert r.status_code == 413 and r.json()["field"] == "body"
    compact = json.dumps(r.json(), separators=(",", ":"), ensure_ascii=False).encode()
    assert r.content == compact  # rendered like every other error body (it once had spaces)

    def chunks():  # no Content-Length: chunked transfer
        for _ in range(40):
            yield b" " * 1000

    r = client.post(f"{API}/needs", headers=bearer(keys.submitter), content=chunks())
    assert r.status_code == 413


def test_submissions_are_rate_limited_per_key(client: TestClient, keys: Keys) -> None:
    again = {**STROKE_NEED, "allow_duplicate": True}  # the same need resubmitted would be a 409 otherwise
    statuses = [client.post(f"{API}/needs", headers=bearer(keys.submitter), json=again).status_code
                for _ in range(6)]
    assert statuses == [201] * 5 + [429]
    r = client.post(f"{API}/needs", headers=bearer(keys.submitter), json=STROKE_NEED)
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
    assert client.post(f"{API}/needs", headers=bearer(keys.admin), json={**STROKE_NEED, "institution": DAKAR}
                       ).status_code == 201  # another key has its own window
