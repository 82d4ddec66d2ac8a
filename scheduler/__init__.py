"""postmast's job store and dispatcher.

The SQL store is the only schedule: posts, one delivery per post x account, and an
append-only record of every attempt. The dispatcher claims due deliveries and hands
their ids to the workers. Installed as `postmast.scheduler`; it imports connectors,
never workers or the CLI.
"""
