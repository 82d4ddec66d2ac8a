"""The Celery app's configuration and what a publish message carries."""

from __future__ import annotations

import base64
import json
import uuid

import redis

from postmast.scheduler.config import Settings
from postmast.workers.app import PUBLISH_TASK, celery_config, create_app, enqueue_all


def test_reliability_settings(tmp_path) -> None:
    settings = Settings.from_env(
        {"POSTMAST_DATA_DIR": str(tmp_path), "POSTMAST_BROKER_URL": "redis://127.0.0.1:6379/0"}
    )
    conf = celery_config(settings)
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"] and conf["task_ignore_result"]
    assert conf["worker_prefetch_multiplier"] == 1 and conf["result_backend"] is None
    # a lost broker connection must not kill a publish the network may already have accepted
    assert conf["worker_cancel_long_running_tasks_on_connection_loss"] is False
    timings = settings.timings
    assert timings.http_timeout < conf["task_soft_time_limit"] < conf["task_time_limit"] < timings.lease
    assert conf["broker_transport_options"]["visibility_timeout"] > conf["task_time_limit"]


def test_embedded_broker_uses_the_fast_polling_transport(tmp_path) -> None:
    from kombu import Connection

    conf = celery_config(Settings.from_env({"POSTMAST_DATA_DIR": str(tmp_path)}))
    assert conf["broker_url"] == f"postmast-sqla+sqlite:///{tmp_path / 'broker.db'}"
    with Connection(conf["broker_url"]) as connection:
        assert connection.transport.polling_interval < 1


def test_a_message_carries_the_delivery_id_only_and_no_eta(redis_url: str, tmp_path) -> None:
    queue = f"postmast-test-{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env(
        {"POSTMAST_DATA_DIR": str(tmp_path), "POSTMAST_BROKER_URL": redis_url, "POSTMAST_QUEUE": queue}
    )
    app = create_app(settings)
    assert PUBLISH_TASK in app.tasks
    client = redis.Redis.from_url(redis_url)
    try:
        enqueue_all(app, [42], queue)
        [raw] = client.lrange(queue, 0, -1)
        message = json.loads(raw)
        assert message["headers"]["task"] == PUBLISH_TASK
        assert message["headers"]["eta"] is None and message["headers"]["expires"] is None
        assert json.loads(base64.b64decode(message["body"])) == [
            [42],
            {},
            {"callbacks": None, "errbacks": None, "chain": None, "chord": None},
        ]
    finally:
        client.delete(queue)


def test_the_task_ignores_a_malformed_message(tmp_path) -> None:
    app = create_app(Settings.from_env({"POSTMAST_DATA_DIR": str(tmp_path)}))
    assert app.tasks[PUBLISH_TASK].run("DROP TABLE deliveries") == "malformed"
