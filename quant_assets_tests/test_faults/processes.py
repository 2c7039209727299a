"""Child processes for fault tests, waited on by condition and deadline, never by sleeping."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

# An outer bound for conditions that normally hold within a second or two; reaching it means
# the test failed, so it is generous and never a timing assertion.
DEADLINE_S = 120.0


def wait_until(condition: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    """Poll ``condition`` every 50 ms until it holds; fail the test naming ``what`` at the deadline."""
    pause, deadline = threading.Event(), time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {deadline_s:.0f} s waiting for {what}")
        pause.wait(0.05)


class ChildProcess:
    """A Python child whose stdout lines are read by a thread, so a test can wait for one.

    stderr goes to ``log_path`` and is shown when an expected line never comes.
    """

    def __init__(self, args: list[str], log_path: Path, stdin: bool = False) -> None:
        self._log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for_line(self, expected: str, deadline_s: float = DEADLINE_S) -> str:
        """Block until the child prints a line starting with ``expected``; return that line."""
        while True:
            try:
                line = self._lines.get(timeout=deadline_s)
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(
                    f"child never printed {expected!r}; stdout {self.seen}, stderr:\n"
                    + self._log_path.read_text(errors="replace")[-3000:]
                )
            self.seen.append(line)
            if line.startswith(expected):
                return line

    def send_line(self, text: str = "") -> None:
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._log.close()


_LOCK_HOLDER = """
import sys
import duckdb

con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
sys.stdin.readline()
con.close()
print("released", flush=True)
sys.stdin.readline()
"""


class WarehouseLockHolder:
    """Another process holding the DuckDB write lock on ``path`` until :meth:`release`."""

    def __init__(self, path: Path | str, log_path: Path) -> None:
        self.child = ChildProcess(["-c", _LOCK_HOLDER, str(path)], log_path, stdin=True)
        self.child.wait_for_line("locked")
        self.released = False

    def release(self) -> None:
        """Let go of the lock (once; later calls do nothing)."""
        if self.released:
            return
        self.released = True
        self.child.send_line()
        self.child.wait_for_line("released")

    def stop(self) -> None:
        self.child.stop()
