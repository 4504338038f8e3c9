"""Browser-side callbacks of the wall: the Beijing clock and the freshness badges (no server round trip)."""

from __future__ import annotations

from dash import ClientsideFunction, Input, Output, State, clientside_callback

from layouts import ids
from layouts.wall import PANEL_AGGS

clientside_callback(
    ClientsideFunction(namespace="dc", function_name="clock"),
    Output(ids.CLOCK, "children"),
    Output(ids.CLOCK_DATE, "children"),
    Input(ids.TICK, "n_intervals"),
    State(ids.STRINGS, "data"),
)

# Every tick (and on every new META) each badge shows the age of its panel's oldest aggregate and the
# panel turns stale past AGG_STALE_AFTER_S, when Redis is down, or when the server stops answering. By the same
# rule the top bar's live badge says "实时" only while every panel is fresh, and "数据延迟 · 65 秒前" (or "数据中断")
# otherwise; the frame callback (callbacks/refresh.py) sets that badge too, for replay, which this one leaves alone.
clientside_callback(
    ClientsideFunction(namespace="dc", function_name="freshness"),
    [Output(ids.FRESHNESS[p], "children") for p in PANEL_AGGS]
    + [Output(ids.FRESHNESS[p], "className") for p in PANEL_AGGS]
    + [Output(p, "className") for p in PANEL_AGGS]
    + [Output(ids.WALL_MODE, "children", allow_duplicate=True),
       Output(ids.WALL_MODE, "className", allow_duplicate=True)],
    Input(ids.TICK, "n_intervals"),
    Input(ids.META, "data"),
    State(ids.STRINGS, "data"),
    prevent_initial_call="initial_duplicate",
)
