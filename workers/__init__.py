"""Workers: the Celery app, the publish task and the policy for what follows each attempt."""
