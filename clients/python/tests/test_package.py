"""Publish-ready: `python -m build` makes an sdist and a wheel, which install into a fresh
virtual environment and work against the server from there (nothing is published)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from typing import Any

import pytest

from conftest import HERE

PROJECT = os.path.dirname(HERE)

USE = """
import sys, jobcast, os
assert "site-packages" in jobcast.__file__, jobcast.__file__
assert os.path.exists(os.path.join(os.path.dirname(jobcast.__file__), "py.typed"))
client = jobcast.Client(sys.argv[1], sys.argv[2])
job = client.submit("demo", {"steps": 3, "step_ms": 10})
events = list(client.watch(job))
print(events[-1].event, sorted(events[-1].data["result"]))
"""


def test_the_built_wheel_installs_in_a_fresh_environment_and_works(secured: Any) -> None:
    try:
        import build  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("no `build` module: run in the venv of .ci/clients.sh")
    with tempfile.TemporaryDirectory() as work:
        out = os.path.join(work, "dist")
        subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", "--outdir", out, PROJECT],
            check=True,
            capture_output=True,
        )
        names = sorted(os.listdir(out))
        assert [n.rsplit("-", 1)[0] if n.endswith(".tar.gz") else n.split("-")[0] for n in names] == ["jobcast", "jobcast"]
        wheel = os.path.join(out, next(n for n in names if n.endswith(".whl")))
        with zipfile.ZipFile(wheel) as archive:
            files = archive.namelist()
        assert "jobcast/py.typed" in files and "jobcast/worker.py" in files
        venv = os.path.join(work, "venv")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        python = os.path.join(venv, "bin", "python")
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--disable-pip-version-check", wheel],
            check=True,
        )
        used = subprocess.run(
            [python, "-c", USE, secured.base, secured.tokens["submit"]],
            check=True,
            capture_output=True,
            text=True,
            cwd=work,  # not the source tree
        )
        assert used.stdout.strip() == "completed ['elapsed_ms', 'steps']", used.stderr
