"""postmast's job store, dispatcher and CLI.

The SQL store is the only schedule: posts, one delivery per post x account, and an
append-only record of every attempt. The dispatcher claims due deliveries and hands
their ids to the workers.
"""

__version__ = "0.1.0"
