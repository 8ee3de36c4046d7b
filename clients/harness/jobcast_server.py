#!/usr/bin/env python3
"""The test harness both client suites share: the real `jobcast` binary on a free loopback
port with a fresh database, tokens on or off, that a test can kill and start again on the same
port and database (a server restart mid-stream).

From Python (the pytest suite imports it):

    with JobcastServer(tokens=True) as server:
        server.base, server.tokens["admin"]
        server.restart()                      # killed (SIGKILL), then started again

From any other language (the TypeScript suite), as a child process speaking JSON lines:

    python3 clients/harness/jobcast_server.py [--tokens] [--env KEY=VALUE]... [--token-ttl 2s]

It prints {"base": ..., "tokens": {...}, "pid": ...} when the server is ready, then reads one
command a line on stdin and answers each with such a line (or {"error": ...}):
`kill` (SIGKILL), `stop` (SIGTERM, waits), `start`, `restart` (kill, then start),
`restart KEY=VALUE...` (start with those variables changed, e.g. a new JOBCAST_AUTH_SECRET),
`log` ({"log": the server's output so far}). At the end of stdin it stops the server and exits,
so a test runner that dies leaves no server behind.

The binary is $JOBCAST_BIN, else target/debug/jobcast of this checkout (`cargo build` makes it).
Standard library only.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Dict, List, Mapping, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = ("admin", "submit", "worker", "read")

# Short timings, so tests that wait for reconnects, leases and shutdowns wait little.
FAST = {
    "JOBCAST_STREAM_RETRY": "100ms",
    "JOBCAST_STREAM_POLL_INTERVAL": "50ms",
    "JOBCAST_STREAM_CLOSE_DELAY": "50ms",
    "JOBCAST_RUNNER_POLL_INTERVAL": "50ms",
    "JOBCAST_SHUTDOWN_GRACE": "1s",
    "JOBCAST_RETRY_BASE": "20ms",
    "JOBCAST_RETRY_MAX": "200ms",
    "JOBCAST_CREATE_RATE": "1000",
    # The example modal is served from another origin on loopback.
    "JOBCAST_CORS_ALLOWED_ORIGINS": "*",
}


def binary() -> str:
    path = os.environ.get("JOBCAST_BIN") or os.path.join(ROOT, "target", "debug", "jobcast")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"no jobcast binary at {path}: run `cargo build` first (or set JOBCAST_BIN)")
    return path



def port_for_restarts() -> int:
    """A free port the server can come back on after a restart: below the range the kernel
    hands out for port 0 and outgoing connections (32768 and up on Linux), so no other test's
    socket takes it in between."""
    import random
    import socket

    while True:
        port = random.randrange(20000, 32000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port

class JobcastServer:
    """One jobcast process on loopback with a database of its own (in a temporary folder that
    outlives restarts and is removed by `close`)."""

    def __init__(
        self,
        tokens: bool = False,
        env: Optional[Mapping[str, str]] = None,
        token_ttl: Optional[str] = None,
    ) -> None:
        self.dir = tempfile.mkdtemp(prefix="jobcast-clients-")
        self.tokens: Dict[str, str] = (
            {role: f"{role}-{secrets.token_hex(8)}" for role in ROLES} if tokens else {}
        )
        self.env: Dict[str, str] = dict(FAST)
        self.env.update(
            JOBCAST_DATABASE_URL=f"sqlite://{self.dir}/jobcast.db",
            JOBCAST_UPLOAD_DIR=os.path.join(self.dir, "uploads"),
        )
        if tokens:
            self.env["JOBCAST_AUTH_TOKENS"] = ",".join(f"{r}:{t}" for r, t in self.tokens.items())
        self.env.update(env or {})
        self.config = os.path.join(ROOT, "config", "default.toml")
        if token_ttl:
            # No variable sets the stream-token TTL: a copy of the default config does.
            text = open(self.config, encoding="utf-8").read()
            text, n = re.subn(r"(?m)^stream_token_ttl = .*$", f'stream_token_ttl = "{token_ttl}"', text)
            assert n == 1, "config/default.toml has a stream_token_ttl line"
            self.config = os.path.join(self.dir, "jobcast.toml")
            with open(self.config, "w", encoding="utf-8") as out:
                out.write(text)
        self.port = port_for_restarts()
        self.base = ""
        self.process: Optional[subprocess.Popen[str]] = None
        self.output: List[str] = []
        self.start()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, **changes: str) -> None:
        """Starts the binary (on the port it had before, if it ran before) and waits until it
        is ready."""
        assert self.process is None, "already running"
        self.env.update(changes)
        env = dict(os.environ)
        env.pop("RUST_LOG", None)
        env.update(self.env)
        env["JOBCAST_LISTEN"] = f"127.0.0.1:{self.port}"
        process = subprocess.Popen(
            [binary(), "serve", "--config", self.config],
            cwd=ROOT,  # the default config's command type runs examples/import_traces.py
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.process = process
        announced = threading.Event()

        def read() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                self.output.append(line.rstrip("\n"))
                match = re.search(r"listening on (http://127\.0\.0\.1:(\d+))", line)
                if match and not announced.is_set():
                    self.base, self.port = match.group(1), int(match.group(2))
                    announced.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 30
        while not announced.wait(0.05):
            if process.poll() is not None or time.monotonic() > deadline:
                self.process = None
                raise RuntimeError("jobcast did not start:\n" + "\n".join(self.output[-40:]))
        while True:
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("jobcast never became ready:\n" + "\n".join(self.output[-40:]))
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: nothing is shut down cleanly."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        """SIGTERM, and waits for the graceful shutdown."""
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None

    def restart(self, **changes: str) -> None:
        self.kill()
        self.start(**changes)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "JobcastServer":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def describe(self) -> Dict[str, object]:
        return {
            "base": self.base,
            "port": self.port,
            "tokens": self.tokens,
            "pid": self.process.pid if self.process else None,
            "dir": self.dir,
        }


def main(argv: List[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tokens", action="store_true", help="tokens on: one per role")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--token-ttl", help="auth.stream_token_ttl, e.g. 2s")
    args = parser.parse_args(argv)
    env = dict(pair.split("=", 1) for pair in args.env)

    def say(message: Mapping[str, object]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    server = JobcastServer(tokens=args.tokens, env=env, token_ttl=args.token_ttl)
    try:
        say(server.describe())
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            command, changes = words[0], dict(w.split("=", 1) for w in words[1:] if "=" in w)
            try:
                if command == "kill":
                    server.kill()
                elif command == "stop":
                    server.stop()
                elif command == "start":
                    server.start(**changes)
                elif command == "restart":
                    server.restart(**changes)
                elif command == "log":
                    say({"log": "\n".join(server.output)})
                    continue
                else:
                    raise ValueError(f"unknown command {command!r}")
                say(server.describe())
            except Exception as error:  # reported to the test, which fails with it
                say({"error": str(error)})
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
