"""postmast: one schedule of posts for many networks, each published on time, exactly once.

The installed distribution is this one package. Its parts come from the repository's
top-level folders (setuptools' package-dir mapping, see setup.py):

- `postmast.connectors` (connectors/): one module or subpackage per network, behind one interface;
- `postmast.scheduler` (scheduler/): the job store, the state machine, the dispatcher;
- `postmast.workers` (workers/): the Celery app and the publish task;
- `postmast.cli` and the other modules here: the application shell (the `postmast` command,
  `postmast run`, the demo), the only place that wires scheduler and workers together.

Imports run one way: shell -> scheduler and workers -> connectors (workers also use the
scheduler's store). docs/architecture.md draws it; tests/test_architecture.py enforces it.
"""

__version__ = "0.1.0"
