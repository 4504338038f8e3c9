"""The wall's frames: rendered once per change and language, kept in Redis, read by every screen (cache.py),
and made ahead by the tick for the screens that are up to date (ahead.py)."""
