"""Dongcheng city-operations command centre (东城区城市运行指挥中心): the product, one room per concern.

- ``dashboard.config``   configuration read from the environment;
- ``dashboard.domain``   fixed domain rules, geography, the incident lifecycle, Beijing time, event models (pure);
- ``dashboard.store``    the system of record: SQLAlchemy models, the engine, every SQL query;
- ``dashboard.live``     the Redis side: key schema, aggregate types, aggregate read/write, history, publishing;
- ``dashboard.services`` every state-changing action, with its role check and its audit;
- ``dashboard.i18n``     message catalogues and locale-aware formatting;
- ``dashboard.report``   the daily report's figures (pure);
- ``dashboard.observe``  what every process says about itself: Prometheus metrics, their scrape, the log format;
- ``dashboard.web``      the Flask/Dash app factory, login, CSRF and the HTTP blueprints.

The screens (``layouts``, ``callbacks``), the workers (``workers``), the simulator (``simulator``) and the
command line (``ops``) are top-level packages beside this one.
"""
