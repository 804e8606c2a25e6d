"""The decision core: key names, the Lua scripts and their typed wrappers, the engine, reads.

Everything that decides who gets a ticket lives here; nothing here knows about RQ, the CLI or HTTP.
"""
