"""docs/openapi.json is the app's OpenAPI document as it is now, and /docs serves it (issue 17, part 2).

The committed file is regenerated and compared byte for byte: a route, body or model changed without
re-exporting fails here with the command that fixes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.cli import ok
from tests.support.control import Control, control_server
from worker.http.openapi import EXPORT_COMMAND, openapi_document, openapi_text

COMMITTED = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def test_docs_openapi_json_is_not_stale() -> None:
    assert COMMITTED.exists(), f"docs/openapi.json is missing: run `{EXPORT_COMMAND}`"
    assert COMMITTED.read_text(encoding="utf-8") == openapi_text(), (
        f"docs/openapi.json is stale (a route or model changed): run `{EXPORT_COMMAND}` and commit it"
    )


def test_the_export_command_writes_the_document(tmp_path: Path) -> None:
    target = tmp_path / "docs" / "openapi.json"
    assert ok(None, "openapi", "export", str(target)).strip() == f"wrote {target}"
    assert target.read_text(encoding="utf-8") == openapi_text()


def test_every_control_route_documents_its_key_its_refusals_and_its_bodies() -> None:
    document = openapi_document()
    assert document["components"]["securitySchemes"]["accountKey"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "rrk_<id>_<secret>",
        "description": document["components"]["securitySchemes"]["accountKey"]["description"],
    }
    problem = {"$ref": "#/components/schemas/Problem"}
    control = {path: ops for path, ops in document["paths"].items() if path.startswith("/v1/accounts/{account}/")}
    assert len(control) >= 20
    for path, operations in control.items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            # the toasts stream also takes the user's agent-link token (EventSource cannot send a header)
            also: list[dict[str, list[str]]] = [{"agentToken": []}] if path.endswith("/users/{user}/toasts") else []
            assert operation["security"] == [{"accountKey": []}, *also], where
            assert operation["summary"] and operation["tags"], where
            for status in ("401", "403", "404", "422", "503"):
                assert operation["responses"][status]["content"]["application/json"]["schema"] == problem, where
            if method in ("put", "post") and "requestBody" in operation:
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                assert "$ref" in schema or "anyOf" in schema, where
    assert "X-Actor" in {p["name"] for p in control["/v1/accounts/{account}/settings/round-robin"]["put"]["parameters"]}
    assert document["components"]["schemas"]["Problem"]["required"] == ["error"]


@pytest.fixture
def control(real_redis: redis.Redis, redis_url: str) -> Iterator[Control]:
    with control_server(redis_url) as ready:
        yield ready


def test_the_service_serves_the_same_document_and_swagger_ui(control: Control) -> None:
    with control.client() as http:
        served = http.get("/openapi.json")
        page = http.get("/docs")
    assert served.json() == openapi_document()
    assert page.status_code == 200 and "swagger-ui" in page.text and "/openapi.json" in page.text
