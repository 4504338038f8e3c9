"""The live layer in Redis: the key schema, the aggregates' types, reading and writing aggregates, their history,
and publishing changes to open screens. Everything here is rebuildable from SQL and fresh telemetry."""
