from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# CI (CI=true) runs the property tests on a fixed seed, so that a landing is decided by the
# code and not by the draw; elsewhere every run draws anew and may find a new failing case.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


@pytest.fixture
def full_bytes() -> bytes:
    return (EXAMPLES / "ap304_full.asc").read_bytes()


@pytest.fixture
def insurer_bytes() -> bytes:
    return (EXAMPLES / "ap304_insurer.asc").read_bytes()


def lines_of(data: bytes) -> list[bytes]:
    """Records of a valid file, without their CR/LF."""
    assert data.endswith(b"\r\n")
    return data[:-2].split(b"\r\n")


def join(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\r\n" for line in lines)


@pytest.fixture(scope="module")
def postgresql() -> Iterator[str]:
    """The URL of a real PostgreSQL server started for the test module (tests/postgres.py:
    initdb/pg_ctl in a temporary folder, loopback only); skipped, with the reason, where
    none can be started."""
    from tests import postgres

    why = postgres.unavailable()
    if why:
        pytest.skip(f"no PostgreSQL server: {why}")
    with postgres.server() as url:
        yield url
