"""docker-compose.yml parses and describes the production stack (no Docker engine needed)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO


def compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        message = "docker-compose is not installed (Debian package docker-compose; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return subprocess.run(
        [binary, "-f", str(REPO / "docker-compose.yml"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("POSTMAST_", "POSTGRES_"))}


def test_compose_config_describes_the_production_stack(env: dict[str, str]) -> None:
    result = compose("config", env={**env, "POSTMAST_SECRET_KEY": "k" * 44})
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert {"postgres", "redis", "worker-1", "worker-2", "scheduler", "flower", "migrate"} <= set(services)
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command and "--maxmemory-policy noeviction" in redis_command
    for name in ("worker-1", "worker-2", "scheduler"):
        service = services[name]
        assert service["environment"]["POSTMAST_BROKER_URL"].startswith("redis://redis:6379")
        assert service["environment"]["POSTMAST_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["worker-1"]["command"][0] == "worker" and services["scheduler"]["command"] == [
        "scheduler"
    ]
    assert "build" in services["worker-1"]
    for name, role in (("worker-1", "worker"), ("worker-2", "worker"), ("scheduler", "scheduler")):
        check = services[name]["healthcheck"]
        assert check["test"] == ["CMD", "postmast", "status", "--role", role, "--here", "--quiet"]
        assert services[name]["environment"]["POSTMAST_WORKER_METRICS_PORT"] == "9100"
    assert "healthcheck" not in services["migrate"]


def test_compose_refuses_to_start_without_a_secret_key(env: dict[str, str]) -> None:
    result = compose("config", env=env)
    assert result.returncode != 0 and "POSTMAST_SECRET_KEY" in result.stderr


def test_dockerfile_installs_the_app_as_an_unprivileged_user() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "USER postmast" in dockerfile and 'ENTRYPOINT ["postmast"]' in dockerfile
    for package in ("postmast", "scheduler", "connectors", "workers"):
        assert f"COPY {package} ./{package}" in dockerfile
