"""Threads (Meta): the connector (containers, replies as threads, carousels, the quota).

The container steps it shares with Instagram are `connectors/containers.py`; public media
hosting is `connectors/hosting.py`; Graph errors are `connectors/graph.py`.
"""

from postmast.connectors.threads.connector import Threads, threads_length

__all__ = ["Threads", "threads_length"]
