"""The engine: Lua scripts, RQ jobs, the CLI."""
