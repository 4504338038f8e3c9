"""The system of record: SQLAlchemy models, the engine and sessions, and every SQL query of the product."""
