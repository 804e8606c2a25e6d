"""The OpenAPI document of the HTTP edge, as ``docs/openapi.json`` holds it.

Built from the app itself (FastAPI turns the routes and their pydantic models into the document), over a
``Helpdesk`` that never connects: exporting needs no Redis. The text is stable (keys in the app's order,
two-space indent, a final newline), so ``tests/test_openapi.py`` can regenerate it and compare it with the
committed file byte for byte, and a route or model changed without re-exporting fails the suite with the
command that fixes it: ``helpdesk-rr openapi export docs/openapi.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from worker.api import Helpdesk
from worker.config import Settings

EXPORT_COMMAND = "helpdesk-rr openapi export docs/openapi.json"


def openapi_document() -> dict[str, Any]:
    """The document ``GET /openapi.json`` serves (and ``/docs`` draws)."""
    from worker.http.app import create_app

    return create_app(Helpdesk(Settings())).openapi()


def openapi_text() -> str:
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def export_openapi(path: Path) -> Path:
    """Write the document to ``path`` (its folder is made if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(openapi_text(), encoding="utf-8")
    return path
