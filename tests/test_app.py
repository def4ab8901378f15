"""Problems for every error path, and the headers every response carries (API.md §1)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from taskapi.app import create_app
from taskapi.config import Settings
from taskapi.errors import all_problem_types
from tests.fixtures.factories import UserSession, unique_email

PROBLEM = "application/problem+json"
MIB = 1024 * 1024


def register_body() -> dict[str, str]:
    return {"email": unique_email(), "password": "password123"}


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["type"] == f"/problems/{kind}"
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body


class TestUnknownRoute:
    async def test_is_not_found_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/no-such-thing")
        body = assert_problem(response, 404, "not-found")
        assert body["instance"] == "/api/v1/no-such-thing"


class TestWrongMethod:
    async def test_is_method_not_allowed_with_allow(self, client: httpx.AsyncClient) -> None:
        response = await client.delete("/health")
        assert_problem(response, 405, "method-not-allowed")
        assert "GET" in response.headers["allow"]


class TestMalformedJson:
    @pytest.mark.parametrize(
        "content",
        [
            b'{"email": "a@example.com", "password": ',
            b"{not json}",
            b'{"email": "a@x.io"',
            b"\xff\xfe{}",
            b"[" * 100_000 + b"]" * 100_000,
        ],
        ids=["truncated", "garbage", "unterminated", "not-utf8", "deeply-nested"],
    )
    async def test_is_malformed_request(self, client: httpx.AsyncClient, content: bytes) -> None:
        response = await client.post(
            "/api/v1/auth/register",
            content=content,
            headers={"Content-Type": "application/json"},
        )
        assert_problem(response, 400, "malformed-request")


class TestWrongJsonShape:
    @pytest.mark.parametrize("payload", [[1, 2], "a string", 42, None], ids=repr)
    async def test_non_object_is_validation(
        self, client: httpx.AsyncClient, payload: object
    ) -> None:
        response = await client.post("/api/v1/auth/register", json=payload)
        body = assert_problem(response, 422, "validation")
        assert body["errors"]

    async def test_unknown_field_is_validation_with_loc(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/v1/auth/register", json={**register_body(), "is_admin": True}
        )
        body = assert_problem(response, 422, "validation")
        errors = body["errors"]
        assert isinstance(errors, list)
        assert {
            "loc": ["body", "is_admin"],
            "msg": errors[0]["msg"],
            "type": "extra_forbidden",
        } in (errors)

    async def test_read_only_field_is_validation(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.patch(
            "/api/v1/users/me",
            json={"display_name": "New", "id": user.id},
            headers=user.headers,
        )
        body = assert_problem(response, 422, "validation")
        assert ["body", "id"] in [error["loc"] for error in body["errors"]]  # type: ignore[attr-defined]


class TestBodyTooLarge:
    async def test_declared_length_over_1_mib(self, client: httpx.AsyncClient) -> None:
        content = b'{"email": "' + b"a" * MIB + b'"}'
        response = await client.post(
            "/api/v1/auth/register",
            content=content,
            headers={"Content-Type": "application/json"},
        )
        assert_problem(response, 413, "payload-too-large")

    async def test_chunked_without_length_over_1_mib(self, client: httpx.AsyncClient) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"email": "'
            for _ in range(17):
                yield b"a" * 65536
            yield b'"}'

        request = client.build_request(
            "POST",
            "/api/v1/auth/register",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        assert "content-length" not in request.headers
        response = await client.send(request)
        assert_problem(response, 413, "payload-too-large")

    async def test_exactly_1_mib_is_read(self, client: httpx.AsyncClient) -> None:
        prefix = b'{"email": "x@example.com", "password": "'
        content = prefix + b"p" * (MIB - len(prefix) - 2) + b'"}'
        assert len(content) == MIB
        response = await client.post(
            "/api/v1/auth/register", content=content, headers={"Content-Type": "application/json"}
        )
        body = assert_problem(response, 422, "validation")  # parsed: the password is too long
        assert ["body", "password"] in [error["loc"] for error in body["errors"]]  # type: ignore[attr-defined]


class TestWrongContentType:
    @pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
    async def test_is_unsupported_media_type(
        self, client: httpx.AsyncClient, content_type: str
    ) -> None:
        response = await client.post(
            "/api/v1/auth/register",
            content=b'{"email": "a@example.com", "password": "password123"}',
            headers={"Content-Type": content_type},
        )
        assert_problem(response, 415, "unsupported-media-type")

    async def test_merge_patch_is_accepted_on_patch(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.patch(
            "/api/v1/users/me",
            content=b'{"display_name": "Merged"}',
            headers={**user.headers, "Content-Type": "application/merge-patch+json"},
        )
        assert response.status_code == 200
        assert response.json()["display_name"] == "Merged"

    async def test_merge_patch_is_refused_on_post(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/v1/auth/register",
            content=b'{"email": "a@example.com", "password": "password123"}',
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert_problem(response, 415, "unsupported-media-type")


class TestUnexpectedException:
    async def test_is_internal_with_request_id_and_no_internals(self, settings: Settings) -> None:
        app = create_app(settings)

        @app.get("/api/v1/test-only/boom")
        async def boom() -> None:
            raise RuntimeError("secret internals: password=hunter2 at /srv/taskapi/db.py")

        # the default transport re-raises anything the app lets escape: nothing must
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            response = await http.get("/api/v1/test-only/boom", headers={"X-Request-ID": "req-1"})
        body = assert_problem(response, 500, "internal")
        assert body["request_id"] == "req-1"
        assert "secret" not in response.text
        assert "RuntimeError" not in response.text
        assert "Traceback" not in response.text
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"


class TestRequestId:
    async def test_generated_when_absent(self, client: httpx.AsyncClient) -> None:
        first = await client.get("/health")
        second = await client.get("/health")
        assert first.headers["x-request-id"]
        assert first.headers["x-request-id"] != second.headers["x-request-id"]

    async def test_sane_one_is_echoed(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health", headers={"X-Request-ID": "trace-42.abc:7"})
        assert response.headers["x-request-id"] == "trace-42.abc:7"

    @pytest.mark.parametrize(
        "sent", ["has spaces in it", "x" * 200, "semi;colon", "<script>"], ids=repr
    )
    async def test_insane_one_is_replaced(self, client: httpx.AsyncClient, sent: str) -> None:
        response = await client.get("/health", headers={"X-Request-ID": sent})
        assert response.headers["x-request-id"] not in ("", sent)

    async def test_on_problems_too(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/users/me", headers={"X-Request-ID": "abc"})
        assert response.status_code == 401
        assert response.headers["x-request-id"] == "abc"
        assert response.json()["request_id"] == "abc"


class TestCommonHeaders:
    @pytest.mark.parametrize("path", ["/health", "/", "/api/v1/users/me", "/nowhere"])
    async def test_nosniff_everywhere(self, client: httpx.AsyncClient, path: str) -> None:
        response = await client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"

    async def test_api_data_is_not_stored(
        self, client: httpx.AsyncClient, user: UserSession
    ) -> None:
        response = await client.get("/api/v1/users/me", headers=user.headers)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"

    async def test_cors_allows_only_configured_origins(
        self, settings: Settings, database_url: str
    ) -> None:
        app = create_app(settings.model_copy(update={"cors_origins": ["https://app.example"]}))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            allowed = await http.options(
                "/api/v1/users/me",
                headers={
                    "Origin": "https://app.example",
                    "Access-Control-Request-Method": "GET",
                },
            )
            refused = await http.get("/health", headers={"Origin": "https://evil.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert allowed.headers["access-control-allow-credentials"] == "true"
        assert "access-control-allow-origin" not in refused.headers


class TestProblemPages:
    @pytest.mark.parametrize("kind", sorted(all_problem_types()))
    async def test_each_kind_is_described_publicly(
        self, client: httpx.AsyncClient, kind: str
    ) -> None:
        response = await client.get(f"/problems/{kind}")
        assert response.status_code == 200
        body = response.json()
        assert body["type"] == f"/problems/{kind}"
        assert body["description"]

    async def test_every_kind_of_the_contract_exists(self) -> None:
        contract = {
            "malformed-request", "invalid-cursor", "method-not-allowed", "unsupported-media-type",
            "payload-too-large", "validation", "unauthenticated", "csrf-failed", "forbidden",
            "not-found", "version-conflict", "conflict", "email-taken",
            "idempotency-key-in-flight", "bulk-rejected", "cursor-expired", "precondition-failed",
            "precondition-required", "idempotency-key-reused", "rate-limited", "internal",
            "unavailable",
        }  # fmt: skip
        assert contract <= set(all_problem_types())

    async def test_unknown_kind_is_not_found(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/problems/no-such-kind")
        assert_problem(response, 404, "not-found")
