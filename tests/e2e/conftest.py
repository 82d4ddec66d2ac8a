"""Fixtures for end-to-end runs: a stack (embedded or production) and its services."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from postmast.scheduler.store import Store
from tests.conftest import truncate
from tests.e2e.harness import Services, service_env


@pytest.fixture
def stack_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for the stack named by the test's `stack` parameter."""
    stack = request.param if hasattr(request, "param") else "embedded"
    data_dir = tmp_path / "data"
    if stack == "production":
        pg_url = request.getfixturevalue("pg_url")
        redis_url = request.getfixturevalue("redis_url")
        truncate(Store(pg_url))
        queue = f"postmast-test-{uuid.uuid4().hex[:8]}"
        env = service_env(data_dir, database_url=pg_url, broker_url=redis_url, queue=queue)
        yield env
        redis.Redis.from_url(redis_url).delete(queue, f"{queue}.unacked")
    else:
        yield service_env(data_dir)


@pytest.fixture
def procs(stack_env: dict[str, str], tmp_path: Path) -> Iterator[Services]:
    found = Services(stack_env, tmp_path)
    yield found
    found.stop_all()
