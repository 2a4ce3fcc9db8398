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
    from service.runtime import Runtime
    from service.settings import Settings

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
    out = {rid: list(rt.engine.get(side, rid).areas) for rid in rt.engine.ids(side)}
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        for rid, found in out.items():
            click.echo(f"{rid:<12} {', '.join(found) or '-'}")


@main.command()
@click.option("--qrels", type=click.Path(path_type=Path), required=True, help="TSV need_id, profile_id, grade.")
@click.option("--reverse", is_flag=True, help="Evaluate profile -> needs instead of need -> profiles.")
@click.option("--areas", "areas_path", type=click.Path(path_type=Path), help="Hand-labelled areas JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def evaluate(qrels: Path, reverse: bool, areas_path: Path | None, as_json: bool) -> None:
    """Ranking metrics of our ranker and of a BM25-only baseline, overall and per language."""
    from matcher.evaluate import run_evaluation

    rt = _loaded()
    report = run_evaluation(rt.engine, qrels, reverse=reverse, areas_path=areas_path)
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
