"""Clean-up of the embedded broker's consumed messages."""

from __future__ import annotations

import multiprocessing

from kombu import Connection, Consumer
from sqlalchemy import create_engine, text

from postmast.workers.broker import clean_embedded_broker, kombu_url


def test_consumed_messages_are_deleted_and_waiting_ones_kept(tmp_path) -> None:
    url = f"sqla+sqlite:///{tmp_path / 'broker.db'}"
    with Connection(kombu_url(url)) as connection:
        queue = connection.SimpleQueue("postmast")
        for number in range(3):
            queue.put({"n": number})
        for _ in range(2):
            queue.get(timeout=2).ack()
        queue.close()
    engine = create_engine(f"sqlite:///{tmp_path / 'broker.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM kombu_message")).scalar_one() == 3
    assert clean_embedded_broker(url, older_than=3600) == 0  # consumed just now: kept for an hour
    assert clean_embedded_broker(url, older_than=-1) == 2
    with engine.connect() as connection:
        assert (
            connection.execute(text("SELECT count(*) FROM kombu_message WHERE visible = 1")).scalar_one() == 1
        )
        assert connection.execute(text("SELECT count(*) FROM kombu_message")).scalar_one() == 1


def test_other_brokers_are_left_alone() -> None:
    assert clean_embedded_broker("redis://127.0.0.1:6379/0") == 0


def _declare(url: str, barrier, errors) -> None:
    try:
        barrier.wait(10)
        with Connection(kombu_url(url)) as connection:
            connection.SimpleQueue("postmast").close()
    except BaseException as exc:  # reported to the parent
        errors.put(f"{type(exc).__name__}: {exc}")


def test_processes_declaring_the_queue_of_a_fresh_broker_at_once_all_succeed(tmp_path) -> None:
    """`postmast run` starts worker and scheduler together; both create the queue row."""
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    for round_ in range(8):
        url = f"sqla+sqlite:///{tmp_path / f'broker-{round_}.db'}"
        barrier = context.Barrier(4)
        children = [context.Process(target=_declare, args=(url, barrier, errors)) for _ in range(4)]
        for child in children:
            child.start()
        for child in children:
            child.join(60)
        assert [c.exitcode for c in children] == [0, 0, 0, 0]
    assert errors.empty(), errors.get()


def test_a_worker_whose_prefetch_was_full_takes_the_next_message_once_it_acks(tmp_path, monkeypatch) -> None:
    """kombu's transport slept its whole polling interval when the prefetch was full, though
    the next message was waiting and the pool acked a moment later; ours looks again at once."""
    import threading
    import time

    from postmast.workers.broker import EmbeddedTransport

    monkeypatch.setattr(EmbeddedTransport, "polling_interval", 30.0)  # a sleep of it would show
    url = f"sqla+sqlite:///{tmp_path / 'broker.db'}"
    received: list[object] = []
    with Connection(kombu_url(url)) as connection:
        producer = connection.SimpleQueue("postmast")
        producer.put({"n": 1})
        producer.put({"n": 2})
        channel = connection.channel()
        channel.basic_qos(prefetch_count=1)
        consumer = Consumer(
            channel, queues=[producer.queue], callbacks=[lambda body, message: received.append(message)]
        )
        consumer.consume()
        connection.drain_events(timeout=5)
        assert len(received) == 1 and not channel.qos.can_consume()
        threading.Timer(0.05, received[0].ack).start()  # the pool finishes the first task
        started = time.monotonic()
        connection.drain_events(timeout=10)
        assert len(received) == 2 and time.monotonic() - started < 5
        received[1].ack()
        consumer.cancel()
        producer.close()


def test_a_message_that_follows_another_is_taken_without_waiting_a_polling_interval(
    tmp_path, monkeypatch
) -> None:
    """A worker hands an account its next delivery as the last one ends: the message arrives a
    moment after the queue was found empty. Within `busy_window` of the last message the queue
    is looked at every `busy_interval`, not every polling interval."""
    import threading
    import time

    from postmast.workers.broker import EmbeddedTransport

    monkeypatch.setattr(EmbeddedTransport, "polling_interval", 30.0)  # a sleep of it would show
    url = f"sqla+sqlite:///{tmp_path / 'broker.db'}"
    received: list[object] = []
    with Connection(kombu_url(url)) as connection:
        producer = connection.SimpleQueue("postmast")
        producer.put({"n": 1})
        channel = connection.channel()
        consumer = Consumer(
            channel,
            queues=[producer.queue],
            callbacks=[lambda body, message: (received.append(body), message.ack())],
        )
        consumer.consume()
        connection.drain_events(timeout=5)
        threading.Timer(0.3, producer.put, args=({"n": 2},)).start()  # after the queue was found empty
        started = time.monotonic()
        connection.drain_events(timeout=10)
        assert received == [{"n": 1}, {"n": 2}] and time.monotonic() - started < 5
        consumer.cancel()
        producer.close()


def test_the_broker_file_is_in_wal_mode(tmp_path) -> None:
    """Every poll and publish is a write transaction: in SQLite's default journal each commit
    waits for several syncs."""
    url = f"sqla+sqlite:///{tmp_path / 'broker.db'}"
    with Connection(kombu_url(url)) as connection:
        queue = connection.SimpleQueue("postmast")
        queue.put({"n": 1})
        queue.close()
    engine = create_engine(f"sqlite:///{tmp_path / 'broker.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    engine.dispose()
