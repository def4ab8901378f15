"""Search results (API.md §5)."""

from __future__ import annotations

from pydantic import Field

from taskapi.kit.schemas import OutputModel
from taskapi.tasks.schemas import Task


class Highlights(OutputModel):
    title: str = Field(
        description="The whole title, HTML-escaped, with matches in `<mark>…</mark>`."
    )
    description: str | None = Field(
        description="One fragment of at most 200 characters, escaped and marked the same way,"
        " or null when the description has no match."
    )


class SearchHit(OutputModel):
    task: Task
    rank: float = Field(
        description="Relevance: 1 plus a 0-1 score for title/tag matches, the 0-1 score alone for"
        " description-only matches (cover density, `ts_rank_cd`; `ts_rank` when the last word is"
        " also matched as a prefix); larger is better. Comparable within one search only."
    )
    highlights: Highlights


class SearchPage(OutputModel):
    items: list[SearchHit]
    next_cursor: str | None = None
