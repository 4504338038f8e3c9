"""The wall's one refresh, wired: a clientside callback applies the frame the server made for the screen's state.

The browser keeps, in the VERSIONS store, the token of the state it shows (dashboard/frames/cache.py). Every tick,
and at once when push brings a frame, a clientside callback (assets/wall.js `dc.frame`) applies the frame from that
state to the current aggregates (rendered by layouts/wall_frame.py once per change and language for all screens,
pushed on the stream or answered by GET /api/v1/frame): only the sections whose aggregate has a new version carry
values. META is answered with every frame: the `computed_at` of each aggregate and the server's clock, from which
the browser renders the freshness badges. When Redis fails, every panel keeps its last values and META says so.
"""

from __future__ import annotations

from typing import Any

from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx
from dash.exceptions import PreventUpdate

from layouts import ids
from layouts.inputs import as_count, as_int
from layouts.tablet import SLIDER_MIN
from layouts.wall import REPLAY_STEP_MIN, stepped
from layouts.wall_frame import ALARM_OUTPUTS, SECTION_OUTPUTS

# The frame's outputs in the order dc.frame answers them: the sections' and the banner's (by "id.prop" in the frame),
# then those it fills itself from the frame's per-request part (VERSIONS onwards; assets/wall.js counts them).
clientside_callback(
    ClientsideFunction(namespace="dc", function_name="frame"),
    [Output(cid, prop) for cid, prop in (*SECTION_OUTPUTS, *ALARM_OUTPUTS)]
    + [Output(ids.VERSIONS, "data"), Output(ids.META, "data"), Output(ids.WALL_MODE, "children"),
       Output(ids.WALL_MODE, "className"), Output(ids.WALL, "className"),
       # The database notice rides on the frame on the wall (callbacks/database.py serves the other pages).
       Output(ids.DB_NOTICE, "children", allow_duplicate=True), Output(ids.DB_NOTICE, "hidden", allow_duplicate=True)],
    Input(ids.TICK, "n_intervals"),
    Input(ids.PUSH, "data"),
    Input(ids.WALL_SLIDER, "value"),
    State(ids.VERSIONS, "data"),
    State(ids.STRINGS, "data"),
    prevent_initial_call="initial_duplicate",
)

# On the wall the frame says whether the database is away, so the shell's own poll of it rests there.
clientside_callback(
    ClientsideFunction(namespace="dc", function_name="dbPoll"),
    Output(ids.DB_POLL, "disabled"),
    Input(ids.URL, "pathname"),
)


@callback(
    Output(ids.WALL_SLIDER, "value"),
    Input(ids.WALL_LIVE, "n_clicks"),
    Input(ids.WALL_EARLIER, "n_clicks"),
    Input(ids.WALL_LATER, "n_clicks"),
    State(ids.WALL_SLIDER, "value"),
    prevent_initial_call=True,
)
def _wall_replay_buttons(live: Any, earlier: Any, later: Any, offset: Any) -> int:
    """"现在" (or assets/wall.js after five untouched minutes) returns the wall to live; ◀ ▶ step the replay by
    REPLAY_STEP_MIN minutes."""
    pressed = ctx.triggered_id
    if pressed == ids.WALL_LIVE:
        if not as_count(live):
            raise PreventUpdate
        return 0
    if not as_count(earlier if pressed == ids.WALL_EARLIER else later):
        raise PreventUpdate
    step = -REPLAY_STEP_MIN if pressed == ids.WALL_EARLIER else REPLAY_STEP_MIN
    return stepped(as_int(offset, SLIDER_MIN, 0) or 0, step)
