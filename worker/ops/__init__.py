"""Ops tooling: the Prometheus metrics endpoint, the event consumer library, the embedded Redis."""
