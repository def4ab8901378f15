"""The OpenAPI description documents the problem+json answers and the security of every route."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel

from taskapi.auth.dependencies import current_principal
from taskapi.openapi import install_openapi
from taskapi.problems import install_exception_handlers

PROBLEM = "application/problem+json"


@pytest.fixture
async def description(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


class TestSecurity:
    async def test_authenticated_operation_declares_bearer_and_cookie(
        self, description: dict[str, Any]
    ) -> None:
        operation = description["paths"]["/api/v1/users/me"]["get"]
        assert operation["security"] == [{"bearerAuth": []}, {"cookieAuth": []}]
        assert "401" in operation["responses"]
        assert "429" in operation["responses"]
        schemes = description["components"]["securitySchemes"]
        assert schemes["bearerAuth"]["scheme"] == "bearer"
        assert schemes["cookieAuth"] == {
            "type": "apiKey",
            "in": "cookie",
            "name": "access_token",
            "description": schemes["cookieAuth"]["description"],
        }

    @pytest.mark.parametrize(
        ("path", "method"),
        [("/health", "get"), ("/api/v1/auth/login", "post"), ("/api/v1/auth/logout", "post")],
    )
    async def test_public_operation_declares_none(
        self, description: dict[str, Any], path: str, method: str
    ) -> None:
        assert "security" not in description["paths"][path][method]

    async def test_unsafe_authenticated_operation_documents_csrf_403(
        self, description: dict[str, Any]
    ) -> None:
        assert "403" in description["paths"]["/api/v1/users/me"]["patch"]["responses"]


class TestProblemAnswers:
    async def test_every_error_answer_is_problem_json(self, description: dict[str, Any]) -> None:
        for path, method, operation in operations(description):
            for code, response in operation["responses"].items():
                if int(code) >= 400:
                    assert list(response["content"]) == [PROBLEM], (path, method, code)

    async def test_every_operation_documents_internal_error(
        self, description: dict[str, Any]
    ) -> None:
        for path, method, operation in operations(description):
            assert "500" in operation["responses"], (path, method)

    async def test_validation_answer_lists_errors(self, description: dict[str, Any]) -> None:
        response = description["paths"]["/api/v1/auth/register"]["post"]["responses"]["422"]
        assert response["content"][PROBLEM]["schema"] == {
            "$ref": "#/components/schemas/ValidationProblem"
        }
        schemas = description["components"]["schemas"]
        assert "HTTPValidationError" not in schemas
        assert schemas["Problem"]["required"] == ["type", "title", "status"]

    async def test_body_operation_documents_malformed_large_and_media_type(
        self, description: dict[str, Any]
    ) -> None:
        responses = description["paths"]["/api/v1/auth/register"]["post"]["responses"]
        assert {"400", "413", "415", "422"} <= set(responses)

    async def test_path_parameter_documents_not_found(self, description: dict[str, Any]) -> None:
        assert "404" in description["paths"]["/api/v1/users/{user_id}"]["get"]["responses"]

    async def test_get_without_parameters_documents_no_400(
        self, description: dict[str, Any]
    ) -> None:
        responses = description["paths"]["/api/v1/users/me"]["get"]["responses"]
        assert not {"400", "404", "413", "415", "422"} & set(responses)


class Conflicting(BaseModel):
    type: str
    current: int


class TestRouteOwnErrors:
    def description(self) -> dict[str, Any]:
        router = APIRouter(prefix="/api/v1")

        @router.post(
            "/things/{thing_id}",
            responses={
                409: {"description": "Stale version", "model": Conflicting},
                404: {"description": "No such thing"},
            },
        )
        async def change_thing(thing_id: int, principal: Any = Depends(current_principal)) -> None:
            """Change a thing."""

        app = FastAPI()
        app.include_router(router)
        install_openapi(app)
        first = app.openapi()
        assert app.openapi() is first  # built once
        return first

    def test_own_error_model_is_kept_as_problem_json(self) -> None:
        responses = self.description()["paths"]["/api/v1/things/{thing_id}"]["post"]["responses"]
        assert responses["409"]["description"] == "Stale version"
        assert responses["409"]["content"] == {
            PROBLEM: {"schema": {"$ref": "#/components/schemas/Conflicting"}}
        }

    def test_own_description_is_kept_with_the_problem_schema(self) -> None:
        responses = self.description()["paths"]["/api/v1/things/{thing_id}"]["post"]["responses"]
        assert responses["404"] == {
            "description": "No such thing",
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }

    def test_answers_are_listed_in_status_order(self) -> None:
        responses = self.description()["paths"]["/api/v1/things/{thing_id}"]["post"]["responses"]
        assert list(responses) == sorted(responses)


class TestMethodNotAllowed:
    async def test_allow_lists_every_method_of_the_path(self, client: httpx.AsyncClient) -> None:
        response = await client.put("/api/v1/users/me")
        assert response.status_code == 405
        assert response.headers["allow"] == "DELETE, GET, PATCH"

    async def test_allow_covers_routes_with_path_parameters(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.options(f"/api/v1/users/{uuid.uuid4()}")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET"

    async def test_literal_path_wins_over_a_matching_template(self) -> None:
        app = FastAPI()
        install_exception_handlers(app)

        @app.post("/things/bulk")
        async def bulk() -> None:
            """Many things."""

        @app.get("/things/{thing_id}")
        async def one(thing_id: int) -> None:
            """One thing."""

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            literal = await http.put("/things/bulk")
            template = await http.put("/things/7")
        assert literal.headers["allow"] == "POST"
        assert template.headers["allow"] == "GET"


class TestRegisterDescription:
    async def test_documents_email_taken(self, description: dict[str, Any]) -> None:
        responses = description["paths"]["/api/v1/auth/register"]["post"]["responses"]
        assert responses["409"]["content"] == {
            PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}
        }


class TestImpossiblePathId:
    async def test_is_not_found_even_with_a_bad_body(
        self, client: httpx.AsyncClient, user: Any
    ) -> None:
        response = await client.patch(
            "/api/v1/projects/not-a-uuid", json={"unknown": 1}, headers=user.headers
        )
        assert response.status_code == 404
        assert response.json()["type"] == "/problems/not-found"
