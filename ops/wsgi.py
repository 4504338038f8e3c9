"""The WSGI application (`gunicorn ops.wsgi:server`), as `dongcheng run` serves it."""

from __future__ import annotations

import os

from dashboard.config import Config
from dashboard.web import create_app
from ops.instance import apply_instance_secrets

# Every gunicorn worker imports this module on its own: without a shared SECRET_KEY each would sign sessions with
# its own random key and log users out at random. The runner sets it; this covers gunicorn started by hand.
apply_instance_secrets(os.environ)

server = create_app(Config.from_env())
