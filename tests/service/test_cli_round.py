"""`partnermatch round` and `accept-round` on the fixture corpus (hashing encoder, isolated home)."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from service.cli import main
from tests.conftest import FIXTURES

CAPACITY = {"p-stroke": 2, "p-stroke-fr": 1, "p-maternity": 3, "p-kidney": 0, "p-equipment": 2}


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _ingest() -> None:
    code, _, err = _run("ingest", "--profiles", str(FIXTURES / "profiles.jsonl"),
                        "--needs", str(FIXTURES / "needs.jsonl"))
    assert code == 0, err


def test_round_json_follows_the_contract_and_respects_capacity(pm_home: Path) -> None:
    _ingest()
    code, out, _ = _run("round", "--per-need", "2", "--json")
    assert code == 0
    doc = json.loads(out)
    assert {"assignments", "alternates", "unassigned", "objective", "round_id"} <= set(doc)
    assert all(set(a) == {"need_id", "profile_id", "score"} for a in doc["assignments"])
    for pid, n in Counter(a["profile_id"] for a in doc["assignments"]).items():
        assert n <= CAPACITY[pid]
    assert all(n <= 2 for n in Counter(a["need_id"] for a in doc["assignments"]).values())
    assert all(set(u) >= {"need_id", "reason"} for u in doc["unassigned"])


def test_round_human_output_is_a_table_and_accepting_uses_capacity(pm_home: Path) -> None:
    _ingest()
    code, out, _ = _run("round", "--fair", "--min-score", "0.5")
    assert code == 0 and "need_id" in out and "n-stroke-fr" in out and "p-stroke-fr" in out
    assert "unassigned:" in out and "n-kidney-en" in out
    code, out, err = _run("accept-round", "1", "--pair", "n-stroke-fr:p-stroke-fr", "--json")
    assert code == 0, err
    assert json.loads(out)["recorded"][0]["reason"] == "accepted in round 1"
    code, out, _ = _run("round", "--json")
    doc = json.loads(out)
    assert "p-stroke-fr" not in {a["profile_id"] for a in doc["assignments"]}  # its one place is taken
    assert {"need_id": "n-stroke-fr", "reason": "already has 1 accepted partner(s)"} in doc["skipped"]


def test_round_bad_input_exits_2(pm_home: Path) -> None:
    _ingest()
    assert _run("round", "--per-need", "0")[0] == 2
    assert _run("round", "--min-score", "nan")[0] == 2
    assert _run("accept-round", "1", "--pair", "no-colon")[0] == 2
    assert _run("accept-round", "77")[0] == 2
