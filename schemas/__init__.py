"""Pydantic v2 models for everything that crosses a boundary: inbound events, emitted events, config."""
