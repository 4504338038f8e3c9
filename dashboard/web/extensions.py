"""Accessors for the per-app resources created in the factory (no module-level state)."""

from __future__ import annotations

from typing import cast

import redis
from flask import Flask, current_app
from sqlalchemy.orm import Session, sessionmaker

from dashboard.config import Config

CONFIG = "dc_config"
REDIS = "dc_redis"
SESSIONS = "dc_sessions"
DASH = "dash_app"


def init_extensions(app: Flask, config: Config, r: redis.Redis, sessions: sessionmaker[Session]) -> None:
    """Attach the config, the Redis client and the session factory to the Flask app."""
    app.extensions[CONFIG] = config
    app.extensions[REDIS] = r
    app.extensions[SESSIONS] = sessions


def current_config() -> Config:
    """The running app's configuration."""
    return cast(Config, current_app.extensions[CONFIG])


def redis_client() -> redis.Redis:
    """The running app's Redis client (thread-safe connection pool)."""
    return cast(redis.Redis, current_app.extensions[REDIS])


def db_sessions() -> sessionmaker[Session]:
    """The running app's SQLAlchemy session factory."""
    return cast(sessionmaker[Session], current_app.extensions[SESSIONS])
