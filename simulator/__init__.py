"""The simulated Dongcheng, a package of its own (the product never imports it): world.py (the world's tables and
shared pure helpers), places.py (where things are), installations.py (the sensors and response units the demo
seeds), days.py, telemetry.py, hotline.py and incidents.py (what happens), feed.py (`Simulator`, the events of all of
them), episodes.py (the labelled ground truth for the benchmarks), poster.py and live.py (posting to the ingest API),
cli.py (`python -m simulator`), units.py (simulated units on the move) and cron.py (the demo's `rq cron` file)."""
