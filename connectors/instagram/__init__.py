"""Instagram: the connector (containers, carousels, reels, comments, the publishing quota).

The container steps it shares with Threads are `connectors/containers.py`; public media
hosting is `connectors/hosting.py`; Graph errors are `connectors/graph.py`.
"""

from postmast.connectors.instagram.connector import Instagram

__all__ = ["Instagram"]
