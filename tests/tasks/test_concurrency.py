"""Concurrent PATCHes with the same version against a real server: one wins, no lost update."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from tests.fixtures.factories import register_user
from tests.fixtures.server import live_server
from tests.fixtures.sql import fetchval

ROUNDS = 20
WRITERS = 8


class TestConcurrentPatch:
    async def test_one_success_per_round_and_no_lost_update(
        self, database_url: str, tmp_path: Path
    ) -> None:
        with live_server(database_url, tmp_path / "server") as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as setup:
                user = await register_user(setup)
                created = await setup.post(
                    "/api/v1/tasks", json={"title": "contended"}, headers=user.headers
                )
                assert created.status_code == 201, created.text
                task_id = created.json()["id"]
            writers = [
                httpx.AsyncClient(base_url=server.base_url, timeout=30, headers=user.headers)
                for _ in range(WRITERS)
            ]
            try:
                version = 1
                winners = 0
                for round_number in range(ROUNDS):
                    responses = await asyncio.gather(
                        *(
                            writer.patch(
                                f"/api/v1/tasks/{task_id}",
                                json={"version": version, "title": f"r{round_number} w{index}"},
                            )
                            for index, writer in enumerate(writers)
                        )
                    )
                    statuses = sorted(response.status_code for response in responses)
                    assert statuses == [200] + [409] * (WRITERS - 1), statuses
                    winner = next(r for r in responses if r.status_code == 200).json()
                    assert winner["version"] == version + 1
                    for response in responses:
                        if response.status_code == 409:
                            assert response.json()["current"]["version"] >= version + 1
                    version += 1
                    winners += 1
            finally:
                for writer in writers:
                    await writer.aclose()
        final = await fetchval(
            database_url, "SELECT version FROM tasks WHERE id = $1", uuid.UUID(task_id)
        )
        updates = await fetchval(
            database_url,
            "SELECT count(*) FROM events WHERE entity_id = $1 AND type = 'task.updated'",
            uuid.UUID(task_id),
        )
        assert final == 1 + winners == 1 + ROUNDS
        assert updates == winners
