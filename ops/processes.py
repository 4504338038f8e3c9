"""What the runner needs of the operating system: the process table, whole sessions and their signals, exit
descriptions, and the children's log lines (rotated files and a prefixed console; with LOG_FORMAT=json, JSON lines
in both, each naming its child in `process`)."""

from __future__ import annotations

import json
import logging
import os
import re
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Final

from dashboard.config import Config, ConfigError, RunConfig
from dashboard.observe.logs import JSON, json_line

log = logging.getLogger(__name__)

# Log files are rotated (one backup kept) at this size: the system is meant to run for weeks.
LOG_MAX_BYTES = 20 * 1024 * 1024
NAME_WIDTH = 9

HAVE_PROC = Path("/proc/self/stat").exists()
_AUTOGROUP = re.compile(r"/autogroup-\d+ nice (?P<nice>-?\d+)")

# Run before exec in each child: die with the runner even if the runner is SIGKILLed (Linux only), at the CPU
# priority it was given (a niceness it and everything it forks keep). Each child leads its own session, and where the
# kernel groups a session's processes for the scheduler (autogroup, on by default in Debian's and most distributions'
# kernels) a niceness only ranks the processes inside their own group: the groups share the CPU equally whatever
# their members' niceness. The child's group is given its niceness too, or the background would compete with the web
# server on equal terms (measured: three busy processes on one core, two at niceness 10 in their own sessions, got a
# third each; with their groups' niceness set, the one at 0 got 82 %).
_DIE_WITH_RUNNER = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"  # 1 = PR_SET_PDEATHSIG
    "os.getppid() == int(sys.argv[1]) or sys.exit('runner gone before start')\n"
    "nice = os.nice(int(sys.argv[2]))\n"
    "try:\n"
    "    with open('/proc/self/autogroup', 'w') as group:\n"
    "        group.write(str(nice))\n"
    "except FileNotFoundError:\n"
    "    pass\n"  # a kernel without autogroups: the niceness alone ranks the processes
    "except OSError as exc:\n"
    "    print(f'CPU priority: the session keeps its share ({exc})', file=sys.stderr)\n"
    "os.execvp(sys.argv[3], sys.argv[3:])\n"
)
# The niceness of the processes that work behind the screens (workers, scheduler, feeds, simulator, subscriber,
# exporter) by default (BACKGROUND_NICE): on a host whose cores they saturate, the screens' web server and Redis still
# get the CPU first, so a wall's refresh does not wait behind a tick or a burst of feeds. Their own work gets the rest
# (at niceness 10 a tenth of a core they compete for with the web server), which a host sized for its load has
# plenty of; deploy/systemd's units set the same Nice= and the weight of their control groups (CPUWeight=).
BACKGROUND_NICE: Final = RunConfig.background_nice


def dying_with_runner(argv: list[str], nice: int = 0) -> list[str]:
    """`argv` wrapped so that the child gets SIGTERM when this process dies and runs `nice` steps below this
    process's CPU priority (Linux; elsewhere unchanged)."""
    if not sys.platform.startswith("linux"):
        return argv
    return [sys.executable, "-c", _DIE_WITH_RUNNER, str(os.getpid()), str(nice), *argv]


def niceness(pid: int) -> int | None:
    """The niceness of `pid` (None when it is gone)."""
    fields = _stat(pid)
    return int(fields[16]) if fields else None


def share_group_niceness(pid: int) -> None:
    """Give the scheduler's group of `pid`'s session (autogroup) the niceness of `pid` (see _DIE_WITH_RUNNER); a
    kernel without autogroups needs nothing."""
    nice = niceness(pid)
    if nice is None:  # gone
        return
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
    except FileNotFoundError:
        return
    except OSError as exc:
        log.warning("CPU priority: the session of process %s keeps its share (%s)", pid, exc)


def group_niceness(pid: int) -> int | None:
    """The niceness of the scheduler's group (autogroup) of `pid`'s session (None when it is gone or the kernel has
    no autogroups)."""
    try:
        raw = Path(f"/proc/{pid}/autogroup").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return parse_autogroup(raw)


def parse_autogroup(text: str) -> int | None:
    """The niceness in a /proc/<pid>/autogroup file ("/autogroup-85 nice 0"), or None when it is empty: the kernel
    writes nothing for a process whose control group has a CPU controller of its own (a container, a systemd
    service), where the group's weight ranks it and there is no autogroup."""
    match = _AUTOGROUP.fullmatch(text.strip())
    return int(match["nice"]) if match else None


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


def json_lines() -> bool:
    """True when LOG_FORMAT asks for JSON lines (a LOG_FORMAT that is neither is refused by the runner's start)."""
    try:
        return Config.from_env().log_format == JSON
    except ConfigError:
        return False


def as_json_line(name: str, text: str) -> str:
    """A line of child `name` as one JSON object naming it: a JSON object line gets `process` added, any other line
    (a print, a crash's traceback) becomes the `message` of one."""
    if text.startswith("{"):
        try:
            fields = json.loads(text)
        except ValueError:
            fields = None
        if isinstance(fields, dict):
            return json.dumps({"process": name, **fields}, ensure_ascii=False)
    return json_line({"process": name, "message": text})


class Console:
    """Prefixed lines on stdout (JSON lines with `json_lines`), one writer at a time."""

    def __init__(self, stream: IO[str], json_lines: bool = False) -> None:
        """Write to `stream` (stdout)."""
        self._stream = stream
        self._lock = threading.Lock()
        self._broken = False
        self.json_lines = json_lines

    def line(self, name: str, text: str) -> None:
        """Print `text` as one line from `name`."""
        stamp = time.strftime("%H:%M:%S")
        out = as_json_line(name, text) if self.json_lines else f"{stamp} {name:<{NAME_WIDTH}}| {text}"
        with self._lock:
            if self._broken:
                return
            try:
                self._stream.write(f"{out}\n")
                self._stream.flush()
            except BrokenPipeError:
                # stdout was closed (e.g. piped into `head`): keep running, the log files still have everything.
                self._broken = True


# A child's routine lines, kept in its log file but not echoed to the console, where they would scroll the banner
# (its URLs and passwords) away within seconds: a request answered without error (gunicorn's access log) and a
# log record below WARNING (the standard format, or LOG_FORMAT=json's). Warnings, errors, tracebacks and anything
# else a child prints still reach the console.
_ACCESS_OK = re.compile(r'^\S+ "[A-Z]+ [^"]*" [123]\d\d ')
_RECORD_BELOW_WARNING = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[,.]\d+ (DEBUG|INFO) ")


def routine(text: str) -> bool:
    """Whether a child's line is routine: its log file keeps it, the console does not show it."""
    if _ACCESS_OK.match(text) or _RECORD_BELOW_WARNING.match(text):
        return True
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except ValueError:
            return False
        if isinstance(record, dict):
            status = str(record.get("status", ""))
            if status.isdigit():
                return int(status) < 400
            return str(record.get("level", "")).upper() in ("DEBUG", "INFO")
    return False


class LogSink:
    """Lines of one child: to instance/logs/<name>.log (rotated) and, prefixed, to the console unless routine."""

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
        if self.console.json_lines:
            line = as_json_line(self.name, text)
        else:
            line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}"
        with self._lock:
            self._fh.write(f"{line}\n")
            self._fh.flush()
            if self._fh.tell() > LOG_MAX_BYTES:
                self._fh.close()
                self.path.replace(self.path.with_suffix(".log.1"))
                self._fh = self.path.open("a", encoding="utf-8")
        if not routine(text):
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


def raise_open_files_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit (each push stream is a socket); the new
    soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or (hard != resource.RLIM_INFINITY and soft >= hard):
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft
    return hard


def wait_until(what: str, check: Callable[[], bool], timeout_s: float, every_s: float = 0.1) -> None:
    """Poll `check()` until it is true; raise TimeoutError naming `what` after `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(every_s)
