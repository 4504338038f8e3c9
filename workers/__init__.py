"""Background aggregation: pure functions (one module per concept) and the thin RQ tick job that runs them."""
