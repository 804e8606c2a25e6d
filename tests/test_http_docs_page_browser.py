"""``/docs`` as a developer sees it: Swagger UI drawn by headless Chromium from files ``serve`` itself serves.

FastAPI's default page loads Swagger UI from a public CDN: on a closed network (CI here, many production
networks) it stays blank. The page must draw every operation with no network beyond the service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.browser import chromium, require_chromium
from tests.support.http import LiveServer, live_server
from worker.api import Helpdesk


@pytest.fixture
def server(real_redis: redis.Redis, redis_url: str) -> Iterator[LiveServer]:
    with live_server(Helpdesk.from_url(redis_url)) as live:
        yield live


def test_the_docs_page_loads_nothing_from_elsewhere(server: LiveServer) -> None:
    page = httpx.get(server.base_url + "/docs", timeout=10).text
    assert "cdn." not in page and "https://" not in page
    for asset in ("/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css"):
        assert asset in page
        answer = httpx.get(server.base_url + asset, timeout=10)
        assert answer.status_code == 200 and len(answer.content) > 10_000


def test_chromium_draws_every_operation_of_the_openapi_document(server: LiveServer, tmp_path: Path) -> None:
    binary = require_chromium()
    spec = httpx.get(server.base_url + "/openapi.json", timeout=10).json()
    dom = chromium(
        binary, tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", server.base_url + "/docs"
    )
    drawn = dom.replace("\u200b", "")  # Swagger UI puts zero-width spaces in long paths so they wrap
    assert 'class="swagger-ui"' in drawn
    for path, operations in spec["paths"].items():
        assert f'data-path="{path}"' in drawn, path
        for operation in operations.values():
            tag = operation["tags"][0].replace(" ", "_")  # Swagger UI's deep-link id for a tag with spaces
            assert f'id="operations-{tag}-{operation["operationId"]}"' in drawn, operation["summary"]
    assert "Authorize" in drawn  # the bearer scheme is offered
