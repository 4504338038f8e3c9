"""The HTTP API under /api/v1: ingest, incidents, cases, the push stream and the OpenAPI document."""
