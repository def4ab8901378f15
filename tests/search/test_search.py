"""GET /api/v1/search (API.md §5): words, ranking, highlights, access, paging, bad input."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.fixtures.factories import UserSession
from tests.search.conftest import API, found, search
from tests.tasks.factories import create_project, create_task, patch_task, share


class TestSearchWords:
    async def test_stemming_running_finds_run(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_task(client, user=user, title="Run the migration")
        await create_task(client, user=user, title="Walk the dog")

        assert await found(client, user=user, q="running") == ["Run the migration"]

    async def test_phrase_needs_the_words_adjacent_and_in_order(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_task(client, user=user, title="Quarterly budget review")
        await create_task(client, user=user, title="Review the budget for the quarter")

        assert await found(client, user=user, q='"budget review"') == ["Quarterly budget review"]

    async def test_minus_excludes_tasks_with_the_word(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_task(client, user=user, title="Invoice the client", tags=["finance"])
        await create_task(client, user=user, title="Invoice the vendor")

        assert await found(client, user=user, q="invoice -client") == ["Invoice the vendor"]

    async def test_or_matches_either_word(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_task(client, user=user, title="Paint the fence")
        await create_task(client, user=user, title="Water the plants")
        await create_task(client, user=user, title="Sweep the porch")

        titles = await found(client, user=user, q="fence or plants")

        assert sorted(titles) == ["Paint the fence", "Water the plants"]

    async def test_tags_and_description_match_too(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_task(client, user=user, title="One", tags=["Zeppelin"])
        await create_task(client, user=user, title="Two", description="About a zeppelin ride")

        assert await found(client, user=user, q="zeppelin") == ["One", "Two"]

    async def test_bare_last_word_of_three_letters_matches_as_prefix(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_task(client, user=user, title="Design the landing page")
        await create_task(client, user=user, title="Deploy the landing page")

        assert await found(client, user=user, q="des") == ["Design the landing page"]
        assert await found(client, user=user, q="landing des") == ["Design the landing page"]

    async def test_two_letter_last_word_is_not_a_prefix(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_task(client, user=user, title="Design the landing page")

        assert await found(client, user=user, q="de") == []

    async def test_prefix_after_or_widens(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_task(client, user=user, title="Paint the fence")
        await create_task(client, user=user, title="Design the logo")

        titles = await found(client, user=user, q="fence or desi")

        assert sorted(titles) == ["Design the logo", "Paint the fence"]

    async def test_excluded_or_quoted_last_word_is_not_a_prefix(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_task(client, user=user, title="Design the landing page")
        await create_task(client, user=user, title="Landing gear check")

        titles = await found(client, user=user, q="landing -des")

        assert sorted(titles) == ["Design the landing page", "Landing gear check"]
        assert await found(client, user=user, q='"landing gea"') == []

    async def test_only_stop_words_find_nothing(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_task(client, user=user, title="The end of it")

        assert await found(client, user=user, q="of it") == []


class TestSearchRanking:
    async def test_title_match_ranks_above_description_match(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_task(client, user=user, title="Kangaroo", description="")
        await create_task(
            client, user=user, title="Zoo trip", description="kangaroo kangaroo kangaroo kangaroo"
        )
        await create_task(client, user=user, title="Animals", tags=["kangaroo"])

        response = await search(client, user=user, q="kangaroo")

        items = response.json()["items"]
        assert [item["task"]["title"] for item in items] == ["Kangaroo", "Animals", "Zoo trip"]
        ranks = [item["rank"] for item in items]
        assert ranks == sorted(ranks, reverse=True)
        assert ranks[1] >= 1 > ranks[2]

    async def test_ties_are_broken_by_most_recently_updated(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        first = await create_task(client, user=user, title="Plan offsite")
        await create_task(client, user=user, title="Plan offsite")
        await asyncio.sleep(0.01)
        response = await patch_task(client, user=user, task=first, priority=2)
        assert response.status_code == 200, response.text

        items = (await search(client, user=user, q="offsite")).json()["items"]

        assert items[0]["task"]["id"] == first["id"]
        assert items[0]["rank"] == items[1]["rank"]


class TestSearchHighlights:
    async def test_title_marks_matches_and_escapes_everything_else(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_task(client, user=user, title="<script>alert('x')</script> & deploy \"now\"")

        item = (await search(client, user=user, q="deploy")).json()["items"][0]

        assert item["highlights"]["title"] == (
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp;"
            " <mark>deploy</mark> &quot;now&quot;"
        )

    async def test_script_in_the_description_comes_back_escaped(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_task(
            client, user=user, title="Note", description="<img src=x onerror=alert(1)> rollout"
        )

        item = (await search(client, user=user, q="rollout")).json()["items"][0]

        fragment = item["highlights"]["description"]
        assert fragment.endswith("onerror=alert(1)&gt; <mark>rollout</mark>")
        assert "<" not in fragment.replace("<mark>", "").replace("</mark>", "")

    async def test_description_is_one_fragment_of_at_most_200_characters(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        filler = " ".join(f"word{i} &<>" for i in range(300))
        await create_task(
            client, user=user, title="Long one", description=f"{filler} pelican {filler}"
        )

        item = (await search(client, user=user, q="pelican")).json()["items"][0]

        fragment = item["highlights"]["description"]
        assert "<mark>pelican</mark>" in fragment
        assert len(fragment) <= 200
        assert "<" not in fragment.replace("<mark>", "").replace("</mark>", "")

    async def test_description_is_null_without_a_match_there(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_task(client, user=user, title="Albatross", description="Nothing to see")

        item = (await search(client, user=user, q="albatross")).json()["items"][0]

        assert item["highlights"] == {"title": "<mark>Albatross</mark>", "description": None}

    async def test_prefix_matches_are_marked(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_task(client, user=user, title="Designing systems")

        item = (await search(client, user=user, q="desig")).json()["items"][0]

        assert item["highlights"]["title"] == "<mark>Designing</mark> systems"


class TestSearchAccess:
    async def test_other_users_tasks_are_absent(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        await create_task(client, user=other_user, title="Secret platypus")
        await create_task(client, user=user, title="My platypus")

        assert await found(client, user=user, q="platypus") == ["My platypus"]

    async def test_shared_project_tasks_are_found_by_members(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project_id = await create_project(client, owner=other_user)
        await share(client, owner=other_user, project_id=project_id, member=user, role="viewer")
        await create_task(client, user=other_user, project_id=project_id, title="Shared walrus")

        assert await found(client, user=user, q="walrus") == ["Shared walrus"]

    async def test_project_of_another_user_is_404(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project_id = await create_project(client, owner=other_user)

        response = await search(client, user=user, q="anything", project_id=project_id)

        assert response.status_code == 404
        assert response.json()["type"] == "/problems/not-found"

    async def test_unknown_project_is_404(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await search(
            client, user=user, q="anything", project_id="0190f0f0-0000-7000-8000-000000000000"
        )

        assert response.status_code == 404

    async def test_project_id_not_a_uuid_is_422(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await search(client, user=user, q="anything", project_id="nope")

        assert response.status_code == 422

    async def test_project_filter_keeps_only_that_project(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project_id = await create_project(client, owner=user)
        await create_task(client, user=user, project_id=project_id, title="Ibis in project")
        await create_task(client, user=user, title="Ibis in inbox")

        titles = await found(client, user=user, q="ibis", project_id=project_id)

        assert titles == ["Ibis in project"]

    async def test_repeated_status_means_any_of_them(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        await create_task(client, user=user, title="Heron todo", status="todo")
        await create_task(client, user=user, title="Heron doing", status="in_progress")
        await create_task(client, user=user, title="Heron done", status="done")

        titles = await found(client, user=user, q="heron", status=["todo", "done"])

        assert sorted(titles) == ["Heron done", "Heron todo"]

    async def test_unknown_status_is_422(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await search(client, user=user, q="heron", status="blocked")

        assert response.status_code == 422

    async def test_deleted_tasks_are_absent(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        task = await create_task(client, user=user, title="Doomed lemur")
        await create_task(client, user=user, title="Living lemur")
        deleted = await client.delete(f"{API}/tasks/{task['id']}", headers=user.headers)
        assert deleted.status_code == 204, deleted.text

        assert await found(client, user=user, q="lemur") == ["Living lemur"]

    async def test_tasks_of_deleted_projects_are_absent(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        project_id = await create_project(client, owner=user)
        await create_task(client, user=user, project_id=project_id, title="Gone gecko")
        deleted = await client.delete(f"{API}/projects/{project_id}", headers=user.headers)
        assert deleted.status_code == 204, deleted.text

        assert await found(client, user=user, q="gecko") == []

    async def test_former_members_no_longer_find_the_tasks(
        self, client: httpx.AsyncClient, user: UserSession, other_user: UserSession
    ) -> None:
        project_id = await create_project(client, owner=other_user)
        await share(client, owner=other_user, project_id=project_id, member=user)
        await create_task(client, user=other_user, project_id=project_id, title="Ex marmot")
        removed = await client.delete(
            f"{API}/projects/{project_id}/members/{user.id}", headers=other_user.headers
        )
        assert removed.status_code == 204, removed.text

        assert await found(client, user=user, q="marmot") == []

    async def test_without_a_token_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{API}/search", params={"q": "x"})

        assert response.status_code == 401


class TestSearchPaging:
    async def test_cursor_walks_every_match_once_in_order(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        for i in range(3):
            await create_task(client, user=user, title=f"Okapi {i}")
        for i in range(3):
            await create_task(client, user=user, title=f"Note {i}", description="an okapi here")
        await create_task(client, user=user, title="Unrelated")
        everything = (await search(client, user=user, q="okapi", limit=100)).json()["items"]

        seen: list[str] = []
        cursor = None
        while True:
            params = {"q": "okapi", "limit": 2, **({"cursor": cursor} if cursor else {})}
            body = (await search(client, user=user, **params)).json()
            assert len(body["items"]) <= 2
            seen += [item["task"]["id"] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break

        assert seen == [item["task"]["id"] for item in everything]
        assert len(seen) == 6

    async def test_cursor_of_another_query_is_400(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        for i in range(3):
            await create_task(client, user=user, title=f"Tapir {i}")
        first = (await search(client, user=user, q="tapir", limit=1)).json()

        for params in ({"q": "other"}, {"q": "tapir", "status": "done"}):
            response = await search(client, user=user, cursor=first["next_cursor"], **params)
            assert response.status_code == 400
            assert response.json()["type"] == "/problems/invalid-cursor"

    async def test_forged_cursor_is_400(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await search(client, user=user, q="tapir", cursor="eyJ2IjoieCJ9AAAAAAAA")

        assert response.status_code == 400
        assert response.json()["type"] == "/problems/invalid-cursor"

    async def test_overlong_cursor_is_400(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await search(client, user=user, q="tapir", cursor="A" * 5000)

        assert response.status_code == 400
        assert response.json()["type"] == "/problems/invalid-cursor"

    async def test_limit_defaults_to_20(self, client: httpx.AsyncClient, user: UserSession) -> None:
        for i in range(21):
            await create_task(client, user=user, title=f"Quokka {i}")

        body = (await search(client, user=user, q="quokka")).json()

        assert len(body["items"]) == 20
        assert body["next_cursor"] is not None

    @pytest.mark.parametrize("limit", ["0", "101", "abc", "-1"])
    async def test_limit_out_of_range_is_422(
        self, client: httpx.AsyncClient, user: UserSession, limit: str
    ) -> None:
        response = await search(client, user=user, q="quokka", limit=limit)

        assert response.status_code == 422


class TestSearchBadQueries:
    @pytest.mark.parametrize("q", ["", " ", "   \t\n "])
    async def test_blank_q_is_422(
        self, client: httpx.AsyncClient, user: UserSession, q: str
    ) -> None:
        response = await search(client, user=user, q=q)

        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["query", "q"]

    async def test_missing_q_is_422(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await client.get(f"{API}/search", headers=user.headers)

        assert response.status_code == 422

    @pytest.mark.parametrize("length", [501, 10_000])
    async def test_q_over_500_characters_is_422(
        self, client: httpx.AsyncClient, user: UserSession, length: int
    ) -> None:
        response = await search(client, user=user, q="a" * length)

        assert response.status_code == 422

    async def test_q_of_500_characters_is_fine(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await search(client, user=user, q=("word " * 100)[:500])

        assert response.status_code == 200

    @pytest.mark.parametrize("q", ["-lemur", "-lemur -gecko", "lemur or -gecko"])
    async def test_nothing_but_exclusions_is_422(
        self, client: httpx.AsyncClient, user: UserSession, q: str
    ) -> None:
        response = await search(client, user=user, q=q)

        assert response.status_code == 422
        assert "exclusions" in response.json()["errors"][0]["msg"]

    async def test_nul_in_q_is_422(self, client: httpx.AsyncClient, user: UserSession) -> None:
        response = await search(client, user=user, q="abc\x00def")

        assert response.status_code == 422

    @pytest.mark.parametrize(
        "q",
        [
            "'; DROP TABLE tasks; --",
            "a & b | !c",
            "foo:* & (bar <-> baz)",
            "\\",
            '"unclosed phrase',
            "''''",
            "<-> <2> !!! ()",
            "or",
            "-",
            "robert'); DELETE FROM users; --",
            "x:A,B*",
            "💥 ünïcödé 漢字",
        ],
    )
    async def test_hostile_q_answers_200(
        self, client: httpx.AsyncClient, user: UserSession, q: str
    ) -> None:
        await create_task(client, user=user, title="Robert tables")

        response = await search(client, user=user, q=q)

        assert response.status_code == 200, response.text
