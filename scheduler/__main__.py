"""`python -m scheduler ...` is `postmast ...` (used by `postmast run` for its children)."""

from scheduler.cli import main

main()
