"""The daily report: its figures and tables built from one Beijing day's rows (pure)."""
