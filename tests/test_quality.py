"""ruff and mypy are part of the test command: the packages stay lint- and type-clean."""

from __future__ import annotations

from tests import checks


def test_ruff_is_clean() -> None:
    result = checks.ruff()
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = checks.ruff_format()
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_the_packages() -> None:
    result = checks.mypy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout
