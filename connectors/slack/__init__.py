"""Slack: the connector and the parts only it uses.

- `connector`: the `Slack` connector: an incoming webhook, or a bot token with
  `chat.postMessage`, its links and lookups;
- `api`: mrkdwn escaping, and Slack's answers turned into results or typed errors.
"""

from postmast.connectors.slack.connector import Slack

__all__ = ["Slack"]
