"""Client messages (API.md §8): ping, malformed and unknown messages, binary and oversized
frames, and the per-socket message rate."""

from __future__ import annotations

import contextlib

from websockets.exceptions import ConnectionClosed

from tests.fixtures.factories import UserSession
from tests.realtime.conftest import InProcessServer, closed_with, open_socket, receive


class TestPing:
    async def test_ping_answers_pong(self, ws_server: InProcessServer, alice: UserSession) -> None:
        ws = await open_socket(ws_server, token=alice.access_token)
        await ws.send('{"type":"ping"}')
        assert await receive(ws) == {"type": "pong"}
        await ws.close()


class TestBadMessages:
    async def _error_then_still_open(
        self, server: InProcessServer, user: UserSession, text: str
    ) -> dict[str, object]:
        ws = await open_socket(server, token=user.access_token)
        await ws.send(text)
        error = await receive(ws)
        await ws.send('{"type":"ping"}')
        assert await receive(ws) == {"type": "pong"}
        await ws.close()
        assert error["type"] == "error"
        problem: dict[str, object] = error["problem"]
        return problem

    async def test_non_json_answers_malformed_request(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        problem = await self._error_then_still_open(ws_server, alice, "{not json")
        assert problem["type"] == "/problems/malformed-request"
        assert problem["status"] == 400

    async def test_unknown_type_answers_validation(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        problem = await self._error_then_still_open(ws_server, alice, '{"type":"dance"}')
        assert problem["type"] == "/problems/validation"
        assert problem["errors"] == [
            {"loc": ["message", "type"], "msg": problem["detail"], "type": "value_error"}
        ]

    async def test_json_that_is_not_an_object_answers_validation(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        problem = await self._error_then_still_open(ws_server, alice, "[1, 2]")
        assert problem["type"] == "/problems/validation"

    async def test_resume_without_since_answers_validation(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        problem = await self._error_then_still_open(ws_server, alice, '{"type":"resume"}')
        assert problem["type"] == "/problems/validation"

    async def test_subscribe_with_bad_ids_answers_validation(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        for text in (
            '{"type":"subscribe"}',
            '{"type":"subscribe","project_ids":"all"}',
            '{"type":"subscribe","project_ids":["nope"]}',
        ):
            problem = await self._error_then_still_open(ws_server, alice, text)
            assert problem["type"] == "/problems/validation", text


class TestFrames:
    async def test_binary_frame_closes_1003(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        ws = await open_socket(ws_server, token=alice.access_token)
        await ws.send(b'{"type":"ping"}')
        assert await closed_with(ws) == 1003

    async def test_one_megabyte_message_closes_1009(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        ws = await open_socket(ws_server, token=alice.access_token)
        with contextlib.suppress(ConnectionClosed):
            await ws.send('{"type":"ping","pad":"' + "x" * 1024 * 1024 + '"}')
        assert await closed_with(ws) == 1009


class TestRate:
    async def test_100_messages_in_a_second_close_4429(
        self, ws_server: InProcessServer, alice: UserSession
    ) -> None:
        ws = await open_socket(ws_server, token=alice.access_token)
        with contextlib.suppress(ConnectionClosed):
            for _ in range(100):
                await ws.send('{"type":"ping"}')
        assert await closed_with(ws) == 4429
