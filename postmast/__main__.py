"""`python -m postmast ...` is `postmast ...` (used by `postmast run` for its children)."""

from postmast.cli import main

main()
