"""The HTTP edge (issue 17, docs/HTTP.md): providers' webhooks in, the control API as JSON, toasts out.

``create_app(helpdesk)`` builds the ASGI app; ``helpdesk-rr serve`` runs it under uvicorn. Routes call only
the control API (``worker.api.Helpdesk``) and the producers API: no helpdesk logic lives here, only
HTTP — reading requests, checking credentials, and turning refusals into statuses.
"""

from __future__ import annotations

from worker.http.app import create_app

__all__ = ["create_app"]
