"""Clean-up of the embedded broker's consumed messages."""

from __future__ import annotations

import multiprocessing

from kombu import Connection
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
