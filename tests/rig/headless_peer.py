"""The headless peer as a test sees it: ``python app.py peer ...`` in a real subprocess (docs/peer.md).

``HeadlessPeer(tmp_path, server_url, name=...)`` creates an identity file (``peer init``, the passphrase
in the environment, never in argv); ``invite_link()`` runs ``peer invite``, ``settings(...)`` ``peer
settings``; ``start(*flags)`` runs
``peer run --json --allow-loopback ...`` with stdin and stdout piped; a reader thread collects every
output line as a JSON event (``events``), ``wait_for(kind, ...)`` waits for one, ``type(line)`` writes a
command; ``stop()`` sends SIGTERM and returns the exit code. ``output()`` is everything it printed, for
failure messages.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.rig.server import REPO_ROOT

PASSPHRASE = "headless peer passphrase"
#: What a headless peer's command may take (the PBKDF2 unlock, aiortc's import, the broker).
COMMAND_TIMEOUT_S = 60.0


class HeadlessPeer:
    """One identity file and, once started, its running ``peer run`` process."""

    def __init__(self, directory: Path, server_url: str, *, name: str = "Headless") -> None:
        self.identity = directory / f"{name.lower().replace(' ', '-')}.parley"
        self.server_url = server_url
        self.name = name
        self.env = {**os.environ, "PARLEY_PASSPHRASE": PASSPHRASE}
        self.process: subprocess.Popen[str] | None = None
        self.events: list[dict[str, Any]] = []
        self._lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self._raw: list[str] = []
        self.peer_id = self._command("init", "--name", name).split("peer id ")[1].strip()

    def _command(self, *args: str) -> str:
        done = subprocess.run(
            [
                sys.executable,
                str(REPO_ROOT / "app.py"),
                "peer",
                args[0],
                "--identity",
                str(self.identity),
                *args[1:],
            ],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"peer {args[0]} exited {done.returncode}: {done.stderr}")
        return done.stdout

    def invite_link(self) -> str:
        return self._command("invite", "--server", self.server_url).strip()

    def settings(self, *flags: str) -> str:
        """``peer settings FLAGS...``: what it printed (the settings after the change)."""
        return self._command("settings", *flags)

    def start(self, *flags: str) -> None:
        command = [sys.executable, str(REPO_ROOT / "app.py"), "peer", "run", "--identity", str(self.identity)]
        command += ["--server", self.server_url, "--json", "--allow-loopback", *flags]
        self.events, self._raw = [], []
        self._lines = queue.Queue()
        self.process = subprocess.Popen(
            command,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        self.wait_for("online")

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self._raw.append(line.rstrip("\n"))
            try:
                event = json.loads(line)
            except ValueError:
                continue  # stderr lines (warnings) are kept in the raw output only
            self._lines.put(event)

    def output(self) -> str:
        return "\n".join(self._raw)

    def wait_for(self, kind: str, timeout: float = COMMAND_TIMEOUT_S, **fields: Any) -> dict[str, Any]:
        """The first event of ``kind`` whose fields include ``fields`` (already seen, or still to come)."""

        def matches(event: dict[str, Any]) -> bool:
            return event.get("event") == kind and all(event.get(k) == v for k, v in fields.items())

        return self.wait_until(matches, timeout, f"{kind} {fields}")

    def wait_until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        for event in self.events:
            if predicate(event):
                return event
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self._lines.get(timeout=0.2)
            except queue.Empty:
                if self.process is not None and self.process.poll() is not None and self._lines.empty():
                    break
                continue
            self.events.append(event)
            if predicate(event):
                return event
        raise AssertionError(f"the headless peer never printed {what}; its output:\n{self.output()}")

    def type(self, line: str) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def stop(self) -> int:
        """SIGTERM, and the exit code (the process must leave within ``COMMAND_TIMEOUT_S``)."""
        process, self.process = self.process, None
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"the headless peer did not stop on SIGTERM:\n{self.output()}") from None
