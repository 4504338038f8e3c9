"""WSGI entry point of a checkout (`gunicorn app:server`, the same application as `ops.wsgi:server`);
`python app.py` runs Flask's development server on HOST and PORT."""

from __future__ import annotations

from dashboard.config import RunConfig
from ops.wsgi import server

if __name__ == "__main__":
    settings = RunConfig.from_env()
    server.run(host=settings.host, port=settings.port, threaded=True)
