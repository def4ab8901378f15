"""Full-text search over the caller's tasks (API.md §5): parse, rank in two tiers, highlight."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from taskapi.errors import InvalidCursor, NotFound, ValidationFailed
from taskapi.kit.cursors import CursorCodec
from taskapi.search import repository
from taskapi.search.repository import START, STOP, Key, PrefixMode
from taskapi.tasks.repository import task_json

MAX_QUERY_LENGTH = 500
DESCRIPTION_FRAGMENT_LENGTH = 200
_BARE_WORD = re.compile(r"[^\W_]{3,}")
_ENTITY = re.compile(r"&(?:[a-z]+|#[0-9]+);")


def check_query(q: str) -> str:
    """``q`` if it is searchable, else ``ValidationFailed`` (blank, too long, or holding NUL)."""
    if "\x00" in q:
        raise ValidationFailed.at(["query", "q"], "must not contain NUL characters")
    if len(q) > MAX_QUERY_LENGTH:
        raise ValidationFailed.at(
            ["query", "q"], f"must be at most {MAX_QUERY_LENGTH} characters", "string_too_long"
        )
    if not q.strip():
        raise ValidationFailed.at(["query", "q"], "must not be blank", "string_too_short")
    return q


def prefix_of(q: str) -> tuple[PrefixMode, str, str] | None:
    """How a bare last word of 3+ characters also matches as a prefix: (mode, the rest, word)."""
    if q.count('"') % 2:  # still inside a phrase: the words are typed in order, not completed
        return None
    words = q.split()
    last = words[-1]
    if not _BARE_WORD.fullmatch(last) or last.lower() == "or":
        return None
    rest = words[:-1]
    if rest and rest[-1].lower() == "or":
        return "or", " ".join(rest[:-1]), last
    return "and", " ".join(rest), last


def _scope(q: str, project_id: uuid.UUID | None, statuses: list[str] | None) -> str:
    canonical = orjson.dumps([q, str(project_id) if project_id else None, sorted(statuses or [])])
    return hashlib.sha256(canonical).hexdigest()[:16]


def _encode_cursor(codec: CursorCodec, scope: str, key: Key) -> str:
    return codec.encode(
        {"v": scope, "s": key.score, "u": key.updated_at.isoformat(), "i": str(key.id)}
    )


def _decode_cursor(codec: CursorCodec, scope: str, cursor: str) -> Key:
    payload = codec.decode(cursor)
    if not isinstance(payload, dict) or payload.get("v") != scope:
        raise InvalidCursor("The cursor belongs to another search")
    try:
        return Key(
            score=float(payload["s"]),
            updated_at=datetime.fromisoformat(payload["u"]),
            id=uuid.UUID(payload["i"]),
        )
    except (KeyError, TypeError, ValueError):  # pragma: no cover - signed payloads are ours
        raise InvalidCursor("The cursor is malformed") from None


def render_title(highlight: str) -> str:
    """The escaped, sentinel-marked title with ``<mark>`` tags."""
    return highlight.replace(START, "<mark>").replace(STOP, "</mark>")


def render_fragment(highlight: str | None, limit: int = DESCRIPTION_FRAGMENT_LENGTH) -> str | None:
    """One marked fragment of at most ``limit`` characters around the first match, or ``None``."""
    if not highlight or START not in highlight:
        return None
    pieces: list[str] = []  # characters, whole entities, and sentinels
    position = 0
    while position < len(highlight):
        entity = _ENTITY.match(highlight, position) if highlight[position] == "&" else None
        piece = entity.group() if entity else highlight[position]
        pieces.append(piece)
        position += len(piece)
    first = pieces.index(START)
    budget = limit
    chosen: list[str] = []
    is_open = False
    for piece in pieces[first:]:
        rendered = {START: "<mark>", STOP: "</mark>"}.get(piece, piece)
        opens = is_open or piece == START
        closing = len("</mark>") if opens and piece != STOP else 0
        if len(rendered) + closing > budget:
            break
        chosen.append(rendered)
        budget -= len(rendered)
        is_open = opens and piece != STOP
    if is_open:
        chosen.append("</mark>")
        budget -= len("</mark>")
    before: list[str] = []
    for piece in reversed(pieces[:first]):
        if len(piece) > budget:
            break
        before.append(piece)
        budget -= len(piece)
    return ("".join(reversed(before)) + "".join(chosen)).strip()


async def search_tasks(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    config: str,
    cursors: CursorCodec,
    q: str,
    project_id: uuid.UUID | None,
    statuses: list[str] | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """A page of the caller's live tasks matching ``q``, best first, with highlights."""
    q = check_query(q)
    scope = _scope(q, project_id, statuses)
    after = _decode_cursor(cursors, scope, cursor) if cursor is not None else None
    prepared = await repository.prepare(
        conn, user_id=user_id, config=config, q=q, prefix=prefix_of(q)
    )
    if prepared.needs_full_scan:
        # "-word" alone means "every task without the word": a scan of all the caller's tasks
        raise ValidationFailed.at(
            ["query", "q"], "must name at least one word to look for, not only exclusions"
        )
    project_ids = prepared.project_ids
    if project_id is not None:
        if project_id not in project_ids:
            raise NotFound("No such project")
        project_ids = [project_id]
    if not prepared.query or not project_ids:
        return {"items": [], "next_cursor": None}
    keys: list[Key] = []
    # tier 1 (title/tag matches, score >= 1) first; the rest only once tier 1 is exhausted
    for head in (True, False):
        if head and after is not None and after.score < 1:
            continue
        keys += await repository.ranked(
            conn,
            query=prepared.query,
            project_ids=project_ids,
            statuses=statuses,
            head=head,
            after=after if (after is None or (after.score >= 1) == head) else None,
            limit=limit + 1 - len(keys),
        )
        if len(keys) > limit:
            break
    page, more = keys[:limit], len(keys) > limit
    rows = await repository.hits(
        conn, config=config, query=prepared.query, ids=[key.id for key in page]
    )
    items = [
        {
            "task": task_json(rows[key.id]),
            "rank": key.score,
            "highlights": {
                "title": render_title(rows[key.id].title_highlight),
                "description": render_fragment(rows[key.id].description_highlight),
            },
        }
        for key in page
    ]
    next_cursor = _encode_cursor(cursors, scope, page[-1]) if more else None
    return {"items": items, "next_cursor": next_cursor}
