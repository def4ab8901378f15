"""No string makes search fail (API.md §5): arbitrary input answers 200 or 422, never 500."""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.factories import UserSession
from tests.search.conftest import search
from tests.tasks.factories import create_task

PIECES = [
    "&", "|", "!", ":", "*", "(", ")", "<->", "<2>", ":*", ":AB", '"', "'", "\\", "\x00", "-",
    "or", "OR", "and", "not", " ", "\t", "'; DROP TABLE tasks; --", "1=1", "/*", "*/", "$$",
    "%", "_", "<mark>", "</script>", "&amp;", "design", "des", "run", "running", "ünï", "漢字",
    "\u200b", "\x02", "\x03", "\x7f",
]  # fmt: skip

hostile = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=80),
    st.lists(st.sampled_from(PIECES), max_size=30).map("".join),
    st.lists(st.sampled_from(PIECES), max_size=12).map(" ".join),
    st.text(alphabet=st.sampled_from("ab&|!:*()<->\"' \\-"), min_size=490, max_size=520),
)


class TestSearchHostileInput:
    @settings(
        max_examples=150,
        deadline=None,
        # the user and tasks are set up once and only read: sharing them between examples is meant
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(q=hostile)
    async def test_any_q_answers_200_or_422_with_escaped_highlights(
        self, client: httpx.AsyncClient, user: UserSession, q: str
    ) -> None:
        if "_search_seeded" not in user.extra:
            await create_task(client, user=user, title="<b>Design</b> & run", tags=["a|b"])
            await create_task(client, user=user, title="x", description="'quoted' \\ <-> :* des")
            user.extra["_search_seeded"] = True

        response = await search(client, user=user, q=q)

        assert response.status_code in (200, 422), response.text
        if response.status_code == 200:
            for item in response.json()["items"]:
                for text in item["highlights"].values():
                    bare = (text or "").replace("<mark>", "").replace("</mark>", "")
                    assert "<" not in bare
                    assert ">" not in bare
