"""The WSGI applications (`gunicorn ops.wsgi:server`, and `ops.wsgi:feeds` for the feeds' server, which granian
serves: ops/feeds_server.py), as `dongcheng run` serves them.

In the demo a SECRET_KEY and an INGEST_TOKEN left unset come from instance/secrets.json (generated there once);
production generates nothing, and create_app refuses to start without them, without DATABASE_URL, or on a database
not at the newest revision, saying which.
"""

from __future__ import annotations

import os
import sys

from dashboard.config import Config, ConfigError
from dashboard.web import create_app
from dashboard.web.feeds import FeedsApp
from ops.instance import apply_instance_secrets
from ops.processes import raise_open_files_limit

# Every gunicorn worker imports this module on its own: without a shared SECRET_KEY each would sign sessions with
# its own random key and log users out at random. The runner sets it; this covers gunicorn started by hand.
if not Config.from_env().production:
    apply_instance_secrets(os.environ)

# Each open push stream is a socket: a worker holds a thousand or more (gunicorn started by hand too).
raise_open_files_limit()

try:
    server = create_app(Config.from_env())
except ConfigError as exc:
    # One plain line before gunicorn's traceback, so that the reason is what the log shows first.
    print(f"dongcheng web: refused to start: {exc}", file=sys.stderr, flush=True)
    raise

# The feeds' server (granian serving `ops.wsgi:feeds`, ops/feeds_server.py): POST /api/v1/events without the app's
# page machinery, the rest by the app (dashboard/web/feeds.py).
feeds = FeedsApp(server)
