"""The log format of every process: LOG_FORMAT=text (the default: `time level logger: message`, as always) or
LOG_FORMAT=json, one JSON object a line (python-json-logger) with `time` (UTC, ISO 8601), `level`, `logger`,
`message`, `pid`, a record's extra fields, and `exc_info` for a traceback.

The web and the feeds' server (their app and gunicorn's error and access logs: ops/gunicorn_conf.py), the RQ workers,
the scheduler, the simulator and the runner's own lines all use it. A JSON line cannot be forged by what a client
sends: every control character inside a value is escaped by the encoding.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any, Final

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON: Final = "json"
# gunicorn's access log atoms kept as fields of a JSON access line: never `q` (the query string) nor `r` (the request
# line, which holds it), where a token could travel.
ACCESS_FIELDS: Final = {"h": "remote", "m": "method", "U": "path", "s": "status", "B": "bytes", "M": "duration_ms"}
ACCESS_LOGGER: Final = "gunicorn.access"
# The feeds' server's (granian's) access records: their fields by name (its `path` is without the query string, which
# is never logged).
GRANIAN_ACCESS_LOGGER: Final = "granian.access"
GRANIAN_ACCESS_FIELDS: Final = {"addr": "remote", "method": "method", "path": "path", "status": "status",
                                "dt_ms": "duration_ms"}
_ACCESS_ATOMS: Final = {ACCESS_LOGGER: ACCESS_FIELDS, GRANIAN_ACCESS_LOGGER: GRANIAN_ACCESS_FIELDS}


class JsonLines(JsonFormatter):
    """One JSON object a record, with the product's field names; gunicorn's and granian's access records get their
    atoms as fields."""

    def __init__(self) -> None:
        """The fields every line has."""
        super().__init__(
            "%(levelname)s %(name)s %(message)s %(process)d",
            rename_fields={"levelname": "level", "name": "logger", "process": "pid"},
            timestamp="time",
            json_ensure_ascii=False,
        )

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        """The standard fields, the record's extra ones but for private markers, and an access record's atoms."""
        super().add_fields(log_data, record, message_dict)
        for key in [k for k in log_data if k.startswith("_")]:
            del log_data[key]
        atoms = _ACCESS_ATOMS.get(record.name)
        if atoms is not None and isinstance(record.args, Mapping):
            for atom, name in atoms.items():
                value = record.args.get(atom)
                if value not in (None, "-"):
                    log_data[name] = value


class OncePer(logging.Filter):
    """Let a logger's warnings through at most once per `seconds` for each message (its format string, so once per
    cause however its arguments vary); the logging system keeps the clock."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.last: dict[str, float] = {}  # format string -> when it was last let through

    def filter(self, record: logging.LogRecord) -> bool:
        """True when this message was not let through within `seconds`."""
        if record.levelno < logging.WARNING:
            return True
        key = str(record.msg)
        if record.created - self.last.get(key, float("-inf")) >= self.seconds:
            self.last[key] = record.created
            return True
        return False


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of `log_format` ("text" or "json")."""
    return JsonLines() if log_format == JSON else logging.Formatter(TEXT_FORMAT)


def configure_logging(log_format: str, level: int | str = logging.INFO, stream: IO[str] | None = None) -> None:
    """Set up the root logger of a process: text as before (logging.basicConfig, which leaves a configured root
    alone), or one JSON handler on `stream` (stderr) replacing basicConfig's plain ones."""
    if log_format != JSON:
        logging.basicConfig(level=level, format=TEXT_FORMAT, stream=stream)
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler and not isinstance(handler.formatter, JsonLines):
            root.removeHandler(handler)  # basicConfig's: the same records would come out twice
    if not any(isinstance(h.formatter, JsonLines) for h in root.handlers):
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(JsonLines())
        root.addHandler(handler)
    root.setLevel(level)


def to_root(*names: str) -> None:
    """Send the records of the loggers `names` to the root logger's handlers instead of their own (a library that set
    up its own text handlers before ours, as `rq worker` does)."""
    for name in names:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


def json_line(fields: Mapping[str, Any]) -> str:
    """`fields` as one JSON line in the same shape as the records (for lines that are not log records: the runner's
    own)."""
    return json.dumps({"time": datetime.now(UTC).isoformat(), **fields}, ensure_ascii=False, default=str)
