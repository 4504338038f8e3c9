"""What the web process writes to its log: a line that starts at column 0 is always the start of a record.

A request's path, parameters or body can reach a log message (Flask's "Exception on <path>", a refused value in a
warning …). Every message is written on one line, its control characters escaped (\\n as \\x0a, a backslash as
\\\\), and every line of a traceback is indented, so that nothing a client sends can forge a line of its own.
"""

from __future__ import annotations

import logging
import traceback

from dashboard.domain.text import escape_controls

# Set on a record once it has been made safe, so that a second handler does not escape it twice.
_DONE = "_dc_one_line"
INDENT = "    "


def _indented(block: str) -> str:
    """A multi-line block (a traceback) with every line indented and its other control characters escaped."""
    return "\n".join(INDENT + escape_controls(line) for line in block.rstrip("\n").split("\n"))


class OneLineRecords(logging.Filter):
    """Makes every record safe to write: the message on one line, tracebacks indented."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place (once); never refuse one."""
        if getattr(record, _DONE, False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a message with the wrong arguments: logging reports it when it formats the record
            return True
        record.msg, record.args = escape_controls(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info))
        if record.exc_text:
            record.exc_text = _indented(record.exc_text)
        if record.stack_info:
            record.stack_info = _indented(record.stack_info)
        setattr(record, _DONE, True)
        return True


def one_line_records(logger: logging.Logger) -> None:
    """Install OneLineRecords on every handler of `logger` (once each)."""
    for handler in logger.handlers:
        if not any(isinstance(f, OneLineRecords) for f in handler.filters):
            handler.addFilter(OneLineRecords())
