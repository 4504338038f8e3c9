"""WSGI entry point (`gunicorn app:server`); `python app.py` runs the development server on PORT."""

from __future__ import annotations

import os

from dashboard.web import create_app
from ops.bootstrap import apply_instance_secrets

# Every gunicorn worker imports this module on its own: without a shared SECRET_KEY each would sign
# sessions with its own random key and log users out at random. The runner sets it; this covers by-hand runs.
apply_instance_secrets(os.environ)

server = create_app()

if __name__ == "__main__":
    server.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT") or 8050), threaded=True)
