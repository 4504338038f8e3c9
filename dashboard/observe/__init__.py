"""What every process says about itself: Prometheus metrics (``metrics``: the metrics and the small functions the code
calls to record them; ``collectors``: gauges read from Redis at scrape time; ``exposition``: who may scrape, and the
per-host exporter) and the log format (``logs``: LOG_FORMAT=json).

How each process is scraped, and why:

- **the web and the feeds' server** (gunicorn, several worker processes): ``GET /metrics`` on their own port
  (dashboard/web/metrics.py). gunicorn's workers share one PROMETHEUS_MULTIPROC_DIR per server, made fresh at each
  start (ops/gunicorn_conf.py, and the runner), and a worker that exits is marked dead by gunicorn's ``child_exit``
  hook, so one scrape of any worker answers for the whole server, counters summed across workers.
- **the RQ workers and the scheduler**: one exporter per host (``dongcheng exporter`` on METRICS_PORT) reads the
  multiprocess directory they all write into. One port per host instead of one per process: workers come and go
  (the runner restarts them, a deployment scales them, a forking worker runs each job in a new process), and a
  port per process would need a port per worker and would lose a dead process's counters, which the directory
  keeps. The exporter also computes, at each scrape, what Redis says of the whole deployment: the age of every
  aggregate and of the tick, the RQ queues' depth and failed jobs, the live workers (``collectors``).
- **the simulator** has no metrics of its own: it is the demo's stand-in for the data sources, and what it sends is
  counted where it arrives, by the feeds' server.

No scrape is public: a scraper sends ``Authorization: Bearer METRICS_TOKEN`` or comes from an address of
METRICS_ALLOW (``exposition``).
"""
