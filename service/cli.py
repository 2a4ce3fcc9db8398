"""The `partnermatch` command line. Exit codes: 0 success, 2 invalid input, 1 anything else.

With --json, standard output carries only the JSON document; progress and logs go to stderr.
"""
from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from matcher.errors import ImportValidationError, InvalidInputError, NotFoundError, PartnermatchError

F = TypeVar("F", bound=Callable[..., Any])


def _runtime(**overrides: Any) -> Any:
    from matcher.candidates import limit_blas_threads
    from service.runtime import Runtime
    from service.settings import Settings

    limit_blas_threads()  # as the server does: idle BLAS threads spinning would slow the model down
    return Runtime(Settings(**overrides))


def _progress(total: int, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, disable=not sys.stderr.isatty(), unit="rec")


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class _Group(click.Group):
    """Maps partnermatch errors to exit codes and one-line messages instead of tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ImportValidationError as exc:
            click.echo(f"error: {len(exc.problems)} problem(s) found; nothing was imported", err=True)
            for p in exc.problems:
                click.echo(f"  {p}", err=True)
            sys.exit(2)
        except (InvalidInputError, NotFoundError) as exc:
            _fail(str(exc), 2)
        except PartnermatchError as exc:
            _fail(str(exc), 1)


@click.group(cls=_Group)
@click.option("-v", "--verbose", is_flag=True, help="Log progress to standard error.")
def main(verbose: bool) -> None:
    """partnermatch: match LMIC health institutions' needs with UK partners."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--profiles", type=click.Path(path_type=Path), help="JSON Lines file of UK profiles.")
@click.option("--needs", type=click.Path(path_type=Path), help="JSON Lines file of LMIC needs.")
def ingest(profiles: Path | None, needs: Path | None) -> None:
    """Validate every line first; on any error list them all and change nothing (exit 2)."""
    from matcher.schema import Need, Profile, read_jsonl

    if profiles is None and needs is None:
        raise InvalidInputError("give --profiles FILE and/or --needs FILE")
    problems: list[str] = []
    loaded: dict[str, list[Any]] = {"profiles": [], "needs": []}
    for key, path, model in (("profiles", profiles, Profile), ("needs", needs, Need)):
        if path is None:
            continue
        try:
            loaded[key] = read_jsonl(path, model)  # type: ignore[type-var]
        except ImportValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ImportValidationError(problems)
    rt = _runtime()
    n = len(loaded["profiles"]) + len(loaded["needs"])
    with _progress(n, "ingest") as bar:
        rt.ingest(loaded["profiles"], loaded["needs"], progress=bar.update)
    click.echo(f"imported {len(loaded['profiles'])} profiles and {len(loaded['needs'])} needs "
               f"(store now {len(rt.engine.ids('profile'))} profiles, {len(rt.engine.ids('need'))} open needs)",
               err=True)


def _loaded() -> Any:
    rt = _runtime()
    rt.load()
    return rt


def _print_items(items: list[dict[str, Any]], key: str) -> None:
    if not items:
        click.echo("  no candidates (the store holds nothing to match against)")
        return
    click.echo(f"  {'#':>2}  {key:<12} {'score':>6}  {'dense':>6} {'lex':>6} {'areas':>6} {'fit':>6}  shared areas")
    for rank, it in enumerate(items, 1):
        b = it["breakdown"]
        fit = b["language"] + b["country"] + b["modality"] + b["full_capacity"]
        areas = ", ".join(s["area"] for s in it.get("shared_areas", [])) or "-"
        flag = "  [FULL]" if it.get("fit", {}).get("full") else ""
        click.echo(f"  {rank:>2}  {it[key]:<12} {it['score']:>6.3f}  {b['dense']:>6.3f} {b['lexical']:>6.3f} "
                   f"{b['areas']:>6.3f} {fit:>6.3f}  {areas}{flag}")
        for s in it.get("shared_areas", [])[:3]:
            ne = "; ".join(e["phrase"] for e in s["need_evidence"][:2]) or "(declared)"
            pe = "; ".join(e["phrase"] for e in s["profile_evidence"][:2]) or "(declared)"
            click.echo(f"        {s['area']}: need \u201c{ne}\u201d \u2194 profile \u201c{pe}\u201d")


@main.command()
@click.option("--need", "need_id", help="Rank UK profiles for this stored need.")
@click.option("--profile", "profile_id", help="Rank open needs for this stored profile.")
@click.option("--text", help="Rank UK profiles for an ad-hoc needs statement.")
@click.option("--all-needs", is_flag=True, help="Rank profiles for every open need.")
@click.option("--all-profiles", is_flag=True, help="Rank needs for every profile.")
@click.option("--top", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def match(need_id: str | None, profile_id: str | None, text: str | None, all_needs: bool,
          all_profiles: bool, top: int, as_json: bool) -> None:
    """Ranked, explained candidates."""
    chosen = [x for x in (need_id, profile_id, text, all_needs or None, all_profiles or None) if x]
    if len(chosen) != 1:
        raise InvalidInputError("give exactly one of --need, --profile, --text, --all-needs, --all-profiles")
    rt = _loaded()
    eng = rt.engine
    result: Any
    if need_id:
        result, key = eng.match_need(need_id, top), "profile_id"
    elif profile_id:
        result, key = eng.match_profile(profile_id, top), "need_id"
    elif text is not None:
        result, key = eng.match_text(text, top), "profile_id"
    elif all_needs:
        result, key = {n: eng.match_need(n, top) for n in eng.ids("need")}, "profile_id"
    else:
        result, key = {p: eng.match_profile(p, top) for p in eng.ids("profile")}, "need_id"
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    if isinstance(result, dict):
        for qid, items in result.items():
            click.echo(qid)
            _print_items(items, key)
    else:
        _print_items(result, key)


@main.command()
@click.option("--all-needs", is_flag=True)
@click.option("--all-profiles", is_flag=True)
@click.option("--text", help="Detect the areas of an ad-hoc text.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def areas(all_needs: bool, all_profiles: bool, text: str | None, as_json: bool) -> None:
    """Clinical areas detected in needs, profiles or a text."""
    if sum(map(bool, (all_needs, all_profiles, text))) != 1:
        raise InvalidInputError("give exactly one of --all-needs, --all-profiles, --text")
    if text is not None:
        from matcher.areas import AreaDetector

        hits = AreaDetector().fit().detect(text)
        doc: Any = [h.to_dict() for h in hits.values()]
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2) if as_json else
                   "\n".join(f"{h['area']:<24} {h['strength']:.2f}  " + "; ".join(e["phrase"] for e in h["evidence"])
                             for h in doc))
        return
    rt = _loaded()
    side = "need" if all_needs else "profile"
    out = {rid: rt.engine.get(side, rid).main_areas for rid in rt.engine.ids(side)}
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        for rid, found in out.items():
            click.echo(f"{rid:<12} {', '.join(found) or '-'}")


@main.command()
@click.option("--qrels", type=click.Path(path_type=Path), required=True, help="TSV need_id, profile_id, grade.")
@click.option("--reverse", is_flag=True, help="Evaluate profile -> needs instead of need -> profiles.")
@click.option("--areas", "areas_path", type=click.Path(path_type=Path), help="Hand-labelled areas JSON.")
@click.option("--ranker", type=click.Choice(["active", "weights", "learned", "both"]), default="active",
              show_default=True, help="Score with what the engine uses, the hand-set weights, the newest learned "
                                      "reranker, or weights and reranker side by side.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def evaluate(qrels: Path, reverse: bool, areas_path: Path | None, ranker: str, as_json: bool) -> None:
    """Ranking metrics of our ranker and of a BM25-only baseline, overall and per language."""
    from matcher.evaluate import run_evaluation

    rt = _loaded()
    scorers: dict[str, Any] = {}
    if ranker != "active":
        rt.engine.scorer = None
    if ranker in ("learned", "both"):
        from models.reranker import newest_reranker, reranker_root

        learned = newest_reranker(reranker_root(rt.settings.home), rt.encoder.name, promoted_only=False)
        if learned is None:
            raise InvalidInputError(f"--ranker {ranker}: no reranker for encoder {rt.encoder.name!r} under "
                                    f"{reranker_root(rt.settings.home)}; train one with `partnermatch train-ranker`")
        if ranker == "learned":
            rt.engine.scorer = learned
        else:
            scorers["learned"] = learned
    report = run_evaluation(rt.engine, qrels, reverse=reverse, areas_path=areas_path, scorers=scorers)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    from matcher.evaluate import format_report

    click.echo(format_report(report))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
def serve(host: str, port: int) -> None:
    """Run the HTTP service."""
    try:
        from service.app import serve as run
    except ImportError as exc:
        raise PartnermatchError(f"the HTTP service is not available: {exc}") from exc
    run(host, port)


# ---- matching rounds -----------------------------------------------------------------------
def _cli_user() -> str:
    """How decisions and rounds made from the command line record who made them."""
    import getpass

    try:
        return f"cli {getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _print_round(doc: dict[str, Any]) -> None:
    served = len({a["need_id"] for a in doc["assignments"]})
    click.echo(f"round {doc['round_id']} ({doc['status']}, scorer {doc['scorer']}): {len(doc['assignments'])} "
               f"pair(s) for {served} of {doc['counts']['needs']} need(s), objective {doc['objective']:.3f}")
    if doc["assignments"]:
        click.echo(f"  {'need_id':<16} {'profile_id':<14} {'score':>6}  alternates")
        for a in doc["assignments"]:
            alts = ", ".join(f"{x['profile_id']} {x['score']:.3f}" for x in doc["alternates"].get(a["need_id"], []))
            click.echo(f"  {a['need_id']:<16} {a['profile_id']:<14} {a['score']:>6.3f}  {alts or '-'}")
    for title, key in (("unassigned", "unassigned"), ("skipped", "skipped")):
        if doc.get(key):
            click.echo(f"{title}:")
            for u in doc[key]:
                click.echo(f"  {u['need_id']:<16} {u['reason']}")
    if doc["assignments"]:
        click.echo(f"accept with: partnermatch accept-round {doc['round_id']} [--pair NEED_ID:PROFILE_ID ...]")


@main.command("round")
@click.option("--per-need", type=click.IntRange(1, 20), default=1, show_default=True,
              help="Partners wanted per need.")
@click.option("--fair", is_flag=True, help="Raise the lowest assigned score first, then the total.")
@click.option("--min-score", type=float, default=0.0, show_default=True, help="Never propose pairs scoring less.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def round_(per_need: int, fair: bool, min_score: float, as_json: bool) -> None:
    """Propose partners for every open need under remaining capacities, and keep the proposal."""
    from service.rounds import propose, round_document

    rt = _loaded()
    doc = round_document(propose(rt, per_need=per_need, fair=fair, min_score=min_score, created_by=_cli_user()))
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        _print_round(doc)


@main.command("accept-round")
@click.argument("round_id", type=int)
@click.option("--pair", "pairs", multiple=True, metavar="NEED_ID:PROFILE_ID",
              help="A pair of the round to accept (repeatable); default: all its assignments.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def accept_round(round_id: int, pairs: tuple[str, ...], as_json: bool) -> None:
    """Record 'accept' decisions for a proposed round's pairs (all or nothing)."""
    from service.rounds import accept

    parsed = []
    for p in pairs:
        need_id, sep, profile_id = p.partition(":")
        if not sep or not need_id or not profile_id:
            raise InvalidInputError(f"--pair: expected NEED_ID:PROFILE_ID, got {p!r}")
        parsed.append([need_id, profile_id])
    rt = _loaded()
    done = accept(rt, round_id, parsed or None, _cli_user())
    if done is None:
        raise NotFoundError(f"no round {round_id} (propose one with `partnermatch round`)")
    row, decisions = done
    doc = {"round_id": row.id, "state": row.state, "accepted": [list(p) for p in row.accepted],
           "recorded": [{"need_id": d.need_id, "profile_id": d.profile_id, "decision": d.decision,
                         "reason": d.reason, "decided_by": d.decided_by} for d in decisions]}
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    click.echo(f"round {row.id}: {len(decisions)} new accept decision(s); state {row.state}")
    for d in decisions:
        click.echo(f"  {d.need_id:<16} {d.profile_id}")


@main.command("train-ranker")
@click.option("--min-decisions", type=click.IntRange(2, None), default=30, show_default=True,
              help="Fewer accept/reject decisions than this: no model, the hand-set weights stay.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the held-back split.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def train_ranker(min_decisions: int, seed: int, as_json: bool) -> None:
    """Learn a reranker from staff accept/reject decisions; it is used when it beats the current scoring."""
    from models.reranker import reranker_root, save_reranker
    from models.reranker_training import train_reranker

    rt = _loaded()
    decisions = {pair: row.decision for pair, row in rt.store.latest_decisions().items()}
    result = train_reranker(rt.engine, decisions, current=rt.engine.scorer, encoder=rt.encoder.name,
                            min_decisions=min_decisions, random_state=seed)
    doc: dict[str, Any] = {"status": result.status, **result.manifest}
    if result.model is not None:
        path = save_reranker(result.model, reranker_root(rt.settings.home), result.manifest)
        doc.update(version=path.name, path=str(path))
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    if result.model is None:
        click.echo(f"no reranker trained: {doc['reason']}")
        return
    ev = doc["evaluation"]

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    click.echo(f"reranker {doc['version']}: {doc['data']['decisions']} decisions on {doc['data']['needs']} needs "
               f"({doc['data']['accepts']} accepts)")
    click.echo(f"held-back ROC AUC ({ev['held_back_decisions']} decisions, {ev['held_back_needs']} needs): "
               f"reranker {fmt(ev['reranker'])}, current ({ev['baseline_scorer']}) {fmt(ev['baseline'])}")
    click.echo("promoted: the engine uses it from its next load" if doc["promoted"] else
               "not promoted: the engine keeps its current scoring")
    click.echo(f"saved to {doc['path']}")


# ---- API keys ------------------------------------------------------------------------------
@main.group()
def keys() -> None:
    """Manage API keys for the HTTP API (the store keeps only a SHA-256 of each key)."""


def _key_store() -> Any:
    from service.settings import Settings
    from service.store import Store

    settings = Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    return Store(settings.db_url).migrate()


@keys.command("create")
@click.option("--role", type=click.Choice(["submitter", "partner", "staff", "admin"]), required=True)
@click.option("--institution", help="The institution a submitter key submits needs for.")
@click.option("--profile", "profile_id", help="The profile id a partner key speaks for.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def keys_create(role: str, institution: str | None, profile_id: str | None, as_json: bool) -> None:
    """Create a key and print it once: it cannot be shown again."""
    from service.keys import create_key, key_dict

    secret, row = create_key(_key_store(), role, institution, profile_id)
    if as_json:
        click.echo(json.dumps(key_dict(row, secret)))
        return
    click.echo(secret)
    click.echo(f"key id {row.id}, role {role}: store the key now, it is not shown again", err=True)


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by id; requests with it get 401 from then on."""
    from service.keys import revoke_key

    if revoke_key(_key_store(), key_id) is None:
        raise NotFoundError(f"no API key with id {key_id!r} (see `partnermatch keys list`)")
    click.echo(f"revoked key {key_id}", err=True)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def keys_list(as_json: bool) -> None:
    """List keys (ids, roles, bindings, dates; never secrets)."""
    from service.keys import key_dict, list_keys

    rows = [key_dict(r) for r in list_keys(_key_store())]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        bound = r["institution"] or r["profile_id"] or "-"
        state = "revoked" if r["revoked_at"] else "active"
        click.echo(f"{r['id']:<14} {r['role']:<10} {state:<8} {bound}")


if __name__ == "__main__":
    main()
