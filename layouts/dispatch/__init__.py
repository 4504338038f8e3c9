"""The dispatcher's console, /dispatch: queue on the left, the incident in the centre, the map focused on it with
the suggested units on the right.

Desk PC (1920×1080), mouse and keyboard. Everything here is pure: a page frame, and functions from the service's
dicts (dashboard.services.incidents) to components, so the views are testable without a server.

Every action button carries, in its pattern-matching id, the incident, the version of the incident it was
rendered for and an idempotency key made fresh for that render: a double-click or a retried request sends the
same key (the service then acts once), and a screen older than the incident gets a clear 409 instead of acting
on old data (callbacks/dispatch.py).

- page.py: the page frame (top bar, filters, panels, confirmation dialog, stores);
- queue.py: the incident queue; detail.py: the incident, its units, summons and timeline;
- actions.py: the action bar and the buttons' ids; form.py: the new-incident form;
- suggest.py: the suggested units; map.py: the console's map and its layers;
- parts.py: badges, clocks, labels and times shared by the others.
"""
