"""The administrator's page, /admin: users and roles, alarm thresholds and deadlines, the health of data sources,
workers and queues, and the audit log.

Desk PC (1920×1080), mouse and keyboard, on the wall's dark theme (assets/admin.css). Four sections behind one
switch at the top; only the open one is shown. Everything here is pure: the page frame, and functions from
the plain dicts of dashboard.services.admin / tunables / live.health / store to components, so the views are
testable without a server. The callbacks (callbacks/admin.py) check the role on the server for every request.

- page.py: the frame (top bar, section switch, confirmation dialog, stores);
- users.py, settings.py, health.py, audit.py: one section each, its frame and its views;
- parts.py: panels, form rows, times, values and the problems of a refused form.
"""
