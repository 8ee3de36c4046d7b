"""Fixtures: the shared harness (clients/harness/jobcast_server.py) runs the real binary."""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Iterator, TypeVar

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(REPO, "clients", "harness"))
if os.environ.get("JOBCAST_TEST_INSTALLED") != "1":
    # The source tree, unless the suite tests an installed package.
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

from jobcast_server import JobcastServer  # noqa: E402

T = TypeVar("T")


@pytest.fixture(scope="module")
def server() -> Iterator[JobcastServer]:
    with JobcastServer() as running:
        yield running


@pytest.fixture(scope="module")
def secured() -> Iterator[JobcastServer]:
    with JobcastServer(tokens=True) as running:
        yield running


@pytest.fixture
def fresh_secured() -> Iterator[JobcastServer]:
    """A server of the test's own (for tests that restart it)."""
    with JobcastServer(tokens=True) as running:
        yield running


def until(what: str, probe: Callable[[], T], done: Callable[[T], Any] = bool, within: float = 15.0) -> T:
    """Polls `probe` until `done` accepts its value; fails with the last value."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {within} s; last value {value!r}")
        time.sleep(0.025)


def metric(server: JobcastServer, series: str) -> float:
    import urllib.request

    headers = {"Authorization": f"Bearer {server.tokens['admin']}"} if server.tokens else {}
    with urllib.request.urlopen(urllib.request.Request(server.base + "/metrics", headers=headers)) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
    return 0.0
