"""SQL of the search: the caller's projects and the query, ranked ids in two tiers, the hits.

Relevance is ``ts_rank_cd(search, query, 32)`` (cover density, scaled to 0-1; ``ts_rank`` when the
query holds a type-ahead prefix, where cover density is far dearer), plus 1 when the
title or the tags match the whole query (``ts_filter(search, '{a,b}')``, weights A and B). That
keeps title/tag matches first, as their weights would in nearly every case anyway, and lets the
first pages come from ``ix_tasks_search_head_live`` alone: only title/tag matches are read and
ranked, never the many more description-only ones (docs/adr/0005-search-plan.md).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from taskapi.projects.access import READABLE_PROJECT_IDS
from taskapi.tasks.repository import COLUMNS

PrefixMode = Literal["and", "or"]

START, STOP = "\x02", "\x03"
"""Sentinels for ts_headline's StartSel/StopSel, removed from the text before it is escaped."""


_WEBSEARCH = "websearch_to_tsquery(CAST(:config AS regconfig), {param})"
# a bare last word also matches as a prefix of a lexeme, unstemmed ('simple'): "des" -> design
_PREFIX = "to_tsquery('simple', quote_literal(:last) || ':*')"
_QUERY = {
    None: _WEBSEARCH.format(param=":q"),
    "and": f"{_WEBSEARCH.format(param=':q')} || ({_WEBSEARCH.format(param=':rest')} && {_PREFIX})",
    "or": f"{_WEBSEARCH.format(param=':q')} || {_WEBSEARCH.format(param=':rest')} || {_PREFIX}",
}
_PREPARE = {
    mode: text(
        # a custom plan sees the query's words (their frequency picks the index); JIT only
        # costs here, compiling for longer than the query runs
        "SELECT set_config('jit', 'off', true) AS jit,"
        " set_config('plan_cache_mode', 'force_custom_plan', true) AS plan_cache_mode,"
        f" CAST({expression} AS text) AS query,"
        f" CAST(querytree({expression}) AS text) AS indexable,"
        f" ARRAY({READABLE_PROJECT_IDS}) AS project_ids"
    )
    for mode, expression in _QUERY.items()
}

_TSQUERY = "CAST(:query AS tsquery)"
_HEAD_MATCH = f"ts_filter(t.search, '{{a,b}}') @@ {_TSQUERY}"
# cover density ranks nearby words higher; with a prefix term it costs 15-20x more than plain
# ts_rank (measured: 25 ms against 1.5 ms for 5,000 rows), so type-ahead queries use ts_rank
_RANK = "{function}(t.search, " + _TSQUERY + ", 32)::float8"


def rank_function(query: str) -> str:
    """``ts_rank_cd``, or ``ts_rank`` when the tsquery holds a prefix term."""
    return "ts_rank" if ":*" in query else "ts_rank_cd"


def _escape(column: str) -> str:
    """SQL that HTML-escapes ``column`` (and drops the sentinels, should the text hold them)."""
    expression = f"translate({column}, chr(2) || chr(3), '')"
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        expression = f"replace({expression}, '{char}', '{entity}')"
    return f"replace({expression}, '''', '&#39;')"


_SELECTORS = "StartSel=" + START + ", StopSel=" + STOP
_HITS = text(
    f"SELECT {COLUMNS},"
    f" ts_headline(CAST(:config AS regconfig), {_escape('t.title')}, {_TSQUERY},"
    f" 'HighlightAll=true, {_SELECTORS}') AS title_highlight,"
    " CASE WHEN t.description <> '' THEN"
    f" ts_headline(CAST(:config AS regconfig), {_escape('t.description')}, {_TSQUERY},"
    f" 'MaxFragments=1, MaxWords=24, MinWords=8, ShortWord=2, {_SELECTORS}') END"
    " AS description_highlight"
    " FROM tasks t WHERE t.id = ANY(CAST(:ids AS uuid[]))"
)


@dataclass(frozen=True)
class Prepared:
    query: str
    """The tsquery as text ('' when the words hold no lexeme, e.g. only stop words)."""
    needs_full_scan: bool
    """Whether no index can answer it: nothing but exclusions (``-word``, ``or -word``)."""
    project_ids: list[uuid.UUID]


@dataclass(frozen=True)
class Key:
    """A position in the result order: (score, updated_at, id), all descending."""

    score: float
    updated_at: datetime
    id: uuid.UUID


async def prepare(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    config: str,
    q: str,
    prefix: tuple[PrefixMode, str, str] | None,
) -> Prepared:
    """The tsquery for ``q`` and the ids of the projects the user may read, in one round trip."""
    params: dict[str, Any] = {"user_id": user_id, "config": config, "q": q}
    mode: PrefixMode | None = None
    if prefix is not None:
        mode, params["rest"], params["last"] = prefix
    row = (await conn.execute(_PREPARE[mode], params)).one()
    return Prepared(
        query=row.query, needs_full_scan=row.indexable == "T", project_ids=list(row.project_ids)
    )


async def ranked(
    conn: AsyncConnection,
    *,
    query: str,
    project_ids: list[uuid.UUID],
    statuses: list[str] | None,
    head: bool,
    after: Key | None,
    limit: int,
) -> list[Key]:
    """Matches in one tier (title/tag matches if ``head``, else the others), best first."""
    rank = _RANK.format(function=rank_function(query))
    score = f"1 + {rank}" if head else rank
    # what the tier's index answers (inside the fence) and what is checked on the rows it finds:
    # the fence keeps the planner from adding any index on `search` alone (which would read
    # every user's matches) to the title/tag tier
    found_by = [
        "ARRAY[t.project_id] && CAST(:project_ids AS uuid[])",
        "t.deleted_at IS NULL",
        _HEAD_MATCH if head else f"t.search @@ {_TSQUERY}",
    ]
    checked = ["true"]
    if not head:
        checked.append(f"NOT ({_HEAD_MATCH})")
    elif "!" in query:
        # without a negation, matching on the title and tags implies matching the whole vector
        checked.append(f"t.search @@ {_TSQUERY}")
    params: dict[str, Any] = {"query": query, "project_ids": project_ids, "limit": limit}
    if statuses:
        found_by.append("t.status = ANY(CAST(:statuses AS text[]))")
        params["statuses"] = statuses
    if after is not None:
        checked.append(f"({score}, t.updated_at, t.id) < (:score, :updated_at, :id)")
        params.update(score=after.score, updated_at=after.updated_at, id=after.id)
    statement = text(
        f"SELECT t.id, t.updated_at, {score} AS score"
        " FROM (SELECT t.id, t.updated_at, t.search FROM tasks t"
        f" WHERE {' AND '.join(found_by)} OFFSET 0) AS t"
        f" WHERE {' AND '.join(checked)}"
        " ORDER BY score DESC, t.updated_at DESC, t.id DESC LIMIT :limit"
    )
    rows = (await conn.execute(statement, params)).all()
    return [Key(score=row.score, updated_at=row.updated_at, id=row.id) for row in rows]


async def hits(
    conn: AsyncConnection, *, config: str, query: str, ids: list[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    """The tasks ``ids`` with their highlights (sentinel-marked, escaped), by id."""
    rows = (await conn.execute(_HITS, {"config": config, "query": query, "ids": ids})).all()
    return {row.id: row for row in rows}
