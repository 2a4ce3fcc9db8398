"""The partnermatch CLI end to end on the fixture corpus (hashing encoder, isolated home)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from service.cli import main
from tests.conftest import FIXTURES

PROFILES = str(FIXTURES / "profiles.jsonl")
NEEDS = str(FIXTURES / "needs.jsonl")


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _ingest() -> None:
    code, _, err = _run("ingest", "--profiles", PROFILES, "--needs", NEEDS)
    assert code == 0, err


def test_ingest_then_match_need_prints_json_only(pm_home: Path) -> None:
    _ingest()
    code, out, _ = _run("match", "--need", "n-stroke-fr", "--top", "2", "--json")
    assert code == 0
    items = json.loads(out)
    assert items[0]["profile_id"] == "p-stroke-fr" and len(items) == 2
    assert {"score", "breakdown", "shared_areas", "fit"} <= set(items[0])


def test_match_all_needs_and_all_profiles_follow_the_contract(pm_home: Path) -> None:
    _ingest()
    code, out, _ = _run("match", "--all-needs", "--top", "3", "--json")
    doc = json.loads(out)
    assert code == 0 and set(doc) == {"n-stroke-en", "n-stroke-fr", "n-maternal-pt", "n-kidney-en", "n-equipment-fr"}
    assert all("profile_id" in item and "shared_areas" in item for items in doc.values() for item in items)
    code, out, _ = _run("match", "--all-profiles", "--top", "2", "--json")
    assert code == 0 and all("need_id" in i for items in json.loads(out).values() for i in items)


def test_areas_all_needs_json(pm_home: Path) -> None:
    _ingest()
    code, out, _ = _run("areas", "--all-needs", "--json")
    doc = json.loads(out)
    assert code == 0 and "stroke" in doc["n-stroke-fr"] and "maternal_health" in doc["n-maternal-pt"]


def test_human_output_is_a_table_with_evidence(pm_home: Path) -> None:
    _ingest()
    code, out, _ = _run("match", "--text", "Our mothers bleed after childbirth", "--top", "2")
    assert code == 0 and "profile_id" in out and "p-maternity" in out and "maternal_health" in out


def test_malformed_import_lists_every_bad_line_exits_2_and_changes_nothing(pm_home: Path, tmp_path: Path) -> None:
    _ingest()
    before = _run("match", "--all-needs", "--json")[1]
    bad = tmp_path / "bad.jsonl"
    good = json.loads(Path(NEEDS).read_text().splitlines()[0])
    bad.write_text("\n".join([
        json.dumps({**good, "id": "n-new", "description": "Changed text about kidneys"}),
        "{broken",
        json.dumps({**good, "id": "n-x", "language": "de"}),
        json.dumps({**good, "id": "n-y", "clinical_areas": ["astrology"]}),
        json.dumps({**good, "id": "n-z", "description": ""}),
        json.dumps({k: v for k, v in good.items() if k != "institution"} | {"id": "n-w"}),
        json.dumps({**good, "id": "n-new"}),
    ]) + "\n")
    code, _, err = _run("ingest", "--needs", str(bad))
    assert code == 2
    for fragment in (":2: invalid JSON", ":3: field 'language'", ":4: field 'clinical_areas.0'",
                     ":5: field 'description'", ":6: field 'institution'", ":7: field 'id': duplicate id"):
        assert fragment in err, fragment
    assert _run("match", "--all-needs", "--json")[1] == before


def test_bad_arguments_exit_2_with_a_message(pm_home: Path) -> None:
    _ingest()
    code, _, err = _run("match", "--need", "does-not-exist")
    assert code == 2 and "does-not-exist" in err
    code, _, err = _run("match", "--need", "n-stroke-en", "--profile", "p-stroke")
    assert code == 2 and "exactly one" in err
    code, _, _ = _run("match", "--need", "n-stroke-en", "--top", "0")
    assert code == 2


def test_evaluate_reports_ours_and_bm25_per_language(pm_home: Path) -> None:
    _ingest()
    code, out, _ = _run("evaluate", "--qrels", str(FIXTURES / "qrels.tsv"), "--json")
    report = json.loads(out)
    assert code == 0 and {"all", "en", "fr", "pt"} <= set(report["ours"]) and "all" in report["bm25"]
    assert report["ours"]["all"]["ndcg@10"] >= report["bm25"]["all"]["ndcg@10"]
    code, out, _ = _run("evaluate", "--qrels", str(FIXTURES / "qrels.tsv"), "--reverse")
    assert code == 0 and "profile->needs" in out


def test_real_process_keeps_stdout_pure_json(pm_home: Path) -> None:
    env = {**os.environ, "PARTNERMATCH_HOME": str(pm_home)}
    cmd = [sys.executable, "-m", "service.cli"]
    subprocess.run([*cmd, "ingest", "--profiles", PROFILES, "--needs", NEEDS], env=env, check=True,
                   capture_output=True)
    result = subprocess.run([*cmd, "match", "--need", "n-stroke-en", "--json"], env=env, capture_output=True,
                            text=True, check=True)
    assert json.loads(result.stdout)[0]["profile_id"] in {"p-stroke", "p-stroke-fr"}


def test_restart_reuses_the_snapshot_and_rebuilds_a_stale_one(pm_home: Path) -> None:
    from service.runtime import Runtime
    from service.settings import Settings

    _ingest()
    rt = Runtime(Settings())
    assert rt.load() == "snapshot"
    rt.store.upsert(needs=[rt.store.needs()[0].model_copy(update={"description": "New kidney dialysis text"})])
    assert Runtime(Settings()).load() == "rebuilt"
