"""The store: SQLAlchemy over SQLite (default) or PostgreSQL. The source of truth.

Functions return None for "not found"; callers pick the status code. Every write bumps
the store version in the same transaction, so other processes can notice it.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Engine,
    Integer,
    Row,
    Select,
    String,
    bindparam,
    cast,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from matcher.schema import Need, Profile
from service.models import ApiKeyRow, DecisionRow, MetaRow, NeedRow, ProfileRow, utcnow

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
T = TypeVar("T")
# Rows read per round trip when streaming a table: ORM objects held at once (yield_per).
_BATCH = 1000
# The lookups every API request makes (its key, its need, the store version), built once:
# a statement built per call costs SQLAlchemy a new cache key each time (~2x the query).
_VERSION = select(MetaRow.value).where(MetaRow.key == "version")
_NEED_ROW = select(NeedRow.__table__).where(NeedRow.id == bindparam("need_id"))
_KEY_ROW = select(ApiKeyRow.__table__).where(ApiKeyRow.key_hash == bindparam("key_hash"))


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout for concurrent processes."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            # Withdrawn needs' text is overwritten on disk, not just unlinked from the b-tree.
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Store:
    """Data access for profiles, needs, decisions, API keys and the store version."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> Store:
        """Apply migrations; return self."""
        migrate(self.engine)
        return self

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that bumps the store version when it commits."""
        with self.sessions.begin() as session:
            yield session
            _bump(session)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session."""
        with self.sessions() as session:
            yield session

    def _first(self, query: Select[Any], **params: Any) -> Row[Any] | None:
        """The first row of a Core query, read on a pooled connection without an ORM session.

        For the lookups every API request makes (key, need, store version): on SQLite,
        measured between ranking calls, 0.2-0.7 ms each against 0.7-1.8 ms through a Session.
        """
        with self.engine.connect() as conn:
            return conn.execute(query, params).first()

    # ---- version ------------------------------------------------------------------
    def version(self) -> int:
        """How many write transactions the store has committed."""
        row = self._first(_VERSION)
        return int(row.value) if row else 0

    # ---- profiles and needs ----------------------------------------------------------
    def upsert(self, profiles: Sequence[Profile] = (), needs: Sequence[Need] = ()) -> None:
        """Insert or update records in one transaction."""
        with self.write() as s:
            for p in profiles:
                _upsert_profile(s, p)
            for n in needs:
                _upsert_need(s, n)

    def profiles(self) -> list[Profile]:
        """Every profile, by id."""
        return list(self._iter_profiles())

    def needs(self, status: str | None = "open") -> list[Need]:
        """Needs with the given status (None: all), by id."""
        return list(self._iter_needs(status))

    def _iter_profiles(self) -> Iterator[Profile]:
        with self.read() as s:
            for r in s.scalars(select(ProfileRow).order_by(ProfileRow.id).execution_options(yield_per=_BATCH)):
                yield profile_from_row(r)

    def _iter_needs(self, status: str | None = "open") -> Iterator[Need]:
        with self.read() as s:
            q = select(NeedRow).order_by(NeedRow.id).execution_options(yield_per=_BATCH)
            if status is not None:
                q = q.where(NeedRow.status == status)
            for r in s.scalars(q):
                yield need_from_row(r)

    def get_profile(self, profile_id: str) -> Profile | None:
        """One profile or None."""
        with self.read() as s:
            row = s.get(ProfileRow, profile_id)
            return profile_from_row(row) if row else None

    def get_need_row(self, need_id: str) -> NeedRow | None:
        """One need row (any status) or None; a copy outside any session, for reading."""
        row = self._first(_NEED_ROW, need_id=need_id)
        return NeedRow(**row._mapping) if row else None

    def content_hash(self, profiles: Any = None) -> str:
        """Hash of everything the index is derived from (all profiles and open needs); see `profiles_part`.

        `profiles`: the hash's state after the profiles (`profiles_part`), when the caller
        holds it (a runtime keeps it up to date); only the open needs are read then. Records
        are streamed, not listed: listing them raised the peak RSS of a 100k-profile ingest
        by ~570 MiB.
        """
        part = profiles if profiles is not None else profiles_part(self.profile_digests())
        return finish_content_hash(part, record_digests(self._iter_needs()))

    def profile_digests(self) -> dict[str, bytes]:
        """id -> `record_digest` of every profile (reads them all: 12 s at 100k profiles)."""
        return record_digests(self._iter_profiles())

    # ---- decisions ------------------------------------------------------------------
    def accepted_counts(self) -> dict[str, int]:
        """profile id -> number of needs accepted with it (latest decision per pair)."""
        counts: dict[str, int] = {}
        for (_need, profile), row in self.latest_decisions().items():
            if row.decision == "accept":
                counts[profile] = counts.get(profile, 0) + 1
        return counts

    def latest_decisions(self) -> dict[tuple[str, str], DecisionRow]:
        """(need id, profile id) -> the most recent decision on that pair."""
        with self.read() as s:
            rows = s.scalars(select(DecisionRow).order_by(DecisionRow.id))
            return {(r.need_id, r.profile_id): r for r in rows}

    # ---- versioned writes used by the HTTP API ------------------------------------------
    def commit(self, work: Callable[[Session], T]) -> tuple[T, int]:
        """Run `work` in one write transaction that bumps the version; return (its result, new version)."""
        with self.sessions.begin() as session:
            result = work(session)
            version = _bump(session)
        return result, version

    def save_need(self, need: Need) -> int:
        """Insert or update one need (status 'open'); return the new store version."""
        return self.commit(lambda s: _upsert_need(s, need))[1]

    def save_profile(self, profile: Profile) -> tuple[bool, int]:
        """Insert or update one profile; return (created, new store version)."""
        def work(s: Session) -> bool:
            created = s.get(ProfileRow, profile.id) is None
            _upsert_profile(s, profile)
            return created
        return self.commit(work)

    def withdraw_need(self, need_id: str) -> tuple[str | None, int | None]:
        """Mark a need withdrawn and erase its text; return (the erased text, new version).

        (None, None) when the need does not exist or is already withdrawn: nothing is written.
        """
        def work(s: Session) -> str | None:
            row = s.get(NeedRow, need_id, with_for_update=True)
            if row is None or row.status == "withdrawn":
                return None
            old = row.description
            row.status, row.description, row.updated_at = "withdrawn", "", utcnow()
            return old

        with self.sessions.begin() as session:
            erased = work(session)
            version = _bump(session) if erased is not None else None
        return erased, version

    def add_decision(self, need_id: str, profile_id: str, decision: str, reason: str,
                     decided_by: str) -> tuple[DecisionRow, int]:
        """Record a staff decision on a pair; return (the row, new store version)."""
        def work(s: Session) -> DecisionRow:
            row = DecisionRow(need_id=need_id, profile_id=profile_id, decision=decision, reason=reason,
                              decided_by=decided_by, decided_at=utcnow())
            s.add(row)
            s.flush()
            return row
        return self.commit(work)

    def decisions(self, need_id: str) -> list[DecisionRow]:
        """Every decision on a need, oldest first."""
        with self.read() as s:
            return list(s.scalars(select(DecisionRow).where(DecisionRow.need_id == need_id).order_by(DecisionRow.id)))

    def needs_page(self, *, institution: str | None = None, status: str | None = None,
                   limit: int = 50, offset: int = 0) -> tuple[list[NeedRow], int]:
        """A page of need rows by id, filtered by institution and status; with the total count."""
        with self.read() as s:
            q = select(NeedRow)
            if institution is not None:
                q = q.where(NeedRow.institution == institution)
            if status is not None:
                q = q.where(NeedRow.status == status)
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = list(s.scalars(q.order_by(NeedRow.id).limit(limit).offset(offset)))
            return rows, total

    def profiles_page(self, limit: int = 50, offset: int = 0) -> tuple[list[ProfileRow], int]:
        """A page of profile rows by id, with the total count."""
        with self.read() as s:
            total = s.scalar(select(func.count()).select_from(ProfileRow)) or 0
            rows = list(s.scalars(select(ProfileRow).order_by(ProfileRow.id).limit(limit).offset(offset)))
            return rows, total

    def get_profile_row(self, profile_id: str) -> ProfileRow | None:
        """One profile row or None."""
        with self.read() as s:
            return s.get(ProfileRow, profile_id)

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    # ---- API keys -------------------------------------------------------------------
    def key_by_hash(self, key_hash: str) -> ApiKeyRow | None:
        """The unrevoked key with this hash, or None; read on every request, so a revocation counts at once."""
        row = self._first(_KEY_ROW, key_hash=key_hash)
        return ApiKeyRow(**row._mapping) if row is not None and row.revoked_at is None else None


def _bump(session: Session) -> int:
    """Increment the store version in the caller's transaction; return the new value.

    One UPDATE ... RETURNING, so two concurrent writers (threads or processes) can never
    both read 5 and both write 6: each commit gets its own version number.
    """
    new = session.execute(
        update(MetaRow).where(MetaRow.key == "version")
        .values(value=cast(cast(MetaRow.value, Integer) + 1, String))
        .returning(MetaRow.value)
    ).scalar_one_or_none()
    if new is None:
        session.add(MetaRow(key="version", value="1"))
        session.flush()
        return 1
    return int(new)


def _upsert_profile(s: Session, p: Profile) -> None:
    row = s.get(ProfileRow, p.id) or ProfileRow(id=p.id, created_at=utcnow())
    for f in ("name", "kind", "country", "region", "description", "capacity"):
        setattr(row, f, getattr(p, f))
    row.languages = list(p.languages)
    row.countries_of_experience = list(p.countries_of_experience)
    row.modalities = list(p.modalities)
    row.clinical_areas = list(p.clinical_areas)
    row.updated_at = utcnow()
    s.add(row)


def _upsert_need(s: Session, n: Need) -> None:
    row = s.get(NeedRow, n.id) or NeedRow(id=n.id, created_at=utcnow())
    for f in ("institution", "country", "language", "description"):
        setattr(row, f, getattr(n, f))
    row.preferred_modalities = list(n.preferred_modalities)
    row.clinical_areas = list(n.clinical_areas)
    row.status = "open"
    row.updated_at = utcnow()
    s.add(row)


def record_digest(record: Profile | Need) -> bytes:
    """SHA-256 of a record's JSON: its part of the content hash."""
    return hashlib.sha256(record.model_dump_json().encode()).digest()


def record_digests(records: Iterable[Profile | Need], legacy: Any = None) -> dict[str, bytes]:
    """id -> `record_digest` of each record; `legacy`, a SHA-256, is also fed each record's JSON in turn."""
    out = {}
    for record in records:
        raw = record.model_dump_json().encode()
        if legacy is not None:
            legacy.update(raw)
        out[record.id] = hashlib.sha256(raw).digest()
    return out


def profiles_part(profiles: Mapping[str, bytes]) -> Any:
    """The content hash's SHA-256 state after the profiles' part: reusable while no profile changes.

    The content hash is a SHA-256 over the profiles' record digests, then the open needs'
    (`finish_content_hash`), each by id (id -> `record_digest`). It is made of per-record
    digests so that a runtime can keep the profiles' part up to date as it writes them,
    instead of reading every profile again after each profile write (12 s at 100k
    profiles). Ids are sorted here, by code point, not by the database, so the value does
    not depend on its collation. (Before 2026-11-26 the hash ran over the records' JSON
    itself; `Runtime.load` still accepts a snapshot of that hash.)
    """
    h = hashlib.sha256(b"partnermatch content hash 2\n")
    _feed(h, profiles)
    return h


def finish_content_hash(profiles: Any, needs: Mapping[str, bytes]) -> str:
    """The content hash from `profiles_part`'s state (left as it is) and the open needs' digests."""
    h = profiles.copy()
    _feed(h, needs)
    return str(h.hexdigest())


def _feed(h: Any, digests: Mapping[str, bytes]) -> None:
    h.update(b"%d\n" % len(digests))
    for rid in sorted(digests):
        h.update(digests[rid])


def profile_from_row(r: ProfileRow) -> Profile:
    """A validated Profile from its row."""
    return Profile(
        id=r.id, name=r.name, kind=r.kind, country=r.country, region=r.region,  # type: ignore[arg-type]
        description=r.description, languages=r.languages, capacity=r.capacity,  # type: ignore[arg-type]
        countries_of_experience=r.countries_of_experience, modalities=r.modalities,  # type: ignore[arg-type]
        clinical_areas=r.clinical_areas,  # type: ignore[arg-type]
    )


def need_from_row(r: NeedRow) -> Need:
    """A validated Need from its row."""
    return Need(
        id=r.id, institution=r.institution, country=r.country, language=r.language,  # type: ignore[arg-type]
        description=r.description, preferred_modalities=r.preferred_modalities,  # type: ignore[arg-type]
        clinical_areas=r.clinical_areas,  # type: ignore[arg-type]
    )
