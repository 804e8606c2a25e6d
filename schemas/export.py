"""Writes the JSON Schema of every event (inbound and emitted) to a folder, one file per event type."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.events import EVENT_MODELS
from schemas.inbound import AgentFirstReply, CustomerReply, TicketClose, TicketCreated, TicketReopen

INBOUND_MODELS: tuple[type[BaseModel], ...] = (TicketCreated, AgentFirstReply, TicketClose, TicketReopen, CustomerReply)


def event_type_of(model: type[BaseModel]) -> str:
    default = model.model_fields["type"].default
    return str(default)


def export_json_schemas(directory: Path) -> list[Path]:
    """Write ``<type>.schema.json`` for each event model; returns the files written, sorted."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in (*INBOUND_MODELS, *EVENT_MODELS):
        event_type = event_type_of(model)
        schema = model.model_json_schema(mode="serialization" if model in EVENT_MODELS else "validation")
        schema["$id"] = f"https://helpdesk-rr.dev/schemas/{event_type}.schema.json"
        path = directory / f"{event_type}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return sorted(written)
