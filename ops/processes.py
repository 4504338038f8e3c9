"""What the runner needs of the operating system: the process table, whole sessions and their signals, exit
descriptions, and the children's log lines (rotated files and a prefixed console)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO

# Log files are rotated (one backup kept) at this size: the system is meant to run for weeks.
LOG_MAX_BYTES = 20 * 1024 * 1024
NAME_WIDTH = 9

HAVE_PROC = Path("/proc/self/stat").exists()

# Run before exec in each child: die with the runner even if the runner is SIGKILLed (Linux only).
_DIE_WITH_RUNNER = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"  # 1 = PR_SET_PDEATHSIG
    "os.getppid() == int(sys.argv[1]) or sys.exit('runner gone before start')\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def dying_with_runner(argv: list[str]) -> list[str]:
    """`argv` wrapped so that the child gets SIGTERM when this process dies (Linux; elsewhere unchanged)."""
    if not sys.platform.startswith("linux"):
        return argv
    return [sys.executable, "-c", _DIE_WITH_RUNNER, str(os.getpid()), *argv]


# --- the process table ----------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from the state on (index 0 = field 3), or None when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def proc_start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (tells a process from a later one reusing its PID)."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes of session `sid`: a child, its workers, and anything they left behind."""
    if not HAVE_PROC:
        try:
            os.killpg(sid, 0)
        except ProcessLookupError:
            return []
        return [sid]
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields and fields[0] != "Z" and int(fields[3]) == sid:
            members.append(int(entry.name))
    return members


def signal_session(sid: int, sig: int) -> int:
    """Send `sig` to every process of session `sid` (RQ puts its work horses in groups of their own)."""
    if not HAVE_PROC:
        try:
            os.killpg(sid, sig)
        except ProcessLookupError:
            return 0
        return 1
    sent = 0
    for pid in session_members(sid):
        try:
            os.kill(pid, sig)
            sent += 1
        except ProcessLookupError:
            continue  # it exited between the scan and the kill: nothing left to stop
    return sent


def describe_exit(code: int) -> str:
    """'exited with code 3' or 'was killed by SIGKILL'."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


# --- output --------------------------------------------------------------------------------------


class Console:
    """Prefixed lines on stdout, one writer at a time."""

    def __init__(self, stream: IO[str]) -> None:
        """Write to `stream` (stdout)."""
        self._stream = stream
        self._lock = threading.Lock()
        self._broken = False

    def line(self, name: str, text: str) -> None:
        """Print `text` as one line from `name`."""
        stamp = time.strftime("%H:%M:%S")
        with self._lock:
            if self._broken:
                return
            try:
                self._stream.write(f"{stamp} {name:<{NAME_WIDTH}}| {text}\n")
                self._stream.flush()
            except BrokenPipeError:
                # stdout was closed (e.g. piped into `head`): keep running, the log files still have everything.
                self._broken = True


class LogSink:
    """Lines of one child: to instance/logs/<name>.log (rotated) and, prefixed, to the console."""

    def __init__(self, name: str, path: Path, console: Console) -> None:
        """Append to `path`, echo to `console`."""
        self.name = name
        self.path = path
        self.console = console
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a", encoding="utf-8")

    def write(self, text: str) -> None:
        """Record one line."""
        with self._lock:
            self._fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")
            self._fh.flush()
            if self._fh.tell() > LOG_MAX_BYTES:
                self._fh.close()
                self.path.replace(self.path.with_suffix(".log.1"))
                self._fh = self.path.open("a", encoding="utf-8")
        self.console.line(self.name, text)

    def pump(self, stream: IO[bytes]) -> None:
        """Copy a child's output until it closes (run in a thread per child)."""
        with stream:
            for raw in stream:
                self.write(raw.decode("utf-8", errors="replace").rstrip())

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._fh.close()
