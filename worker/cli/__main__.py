"""``python -m worker.cli``: the same as the ``helpdesk-rr`` script (used to start worker children)."""

from worker.cli import main

main()
