"""Every Dash component ID of the screens, in one place so that layouts and callbacks cannot drift apart."""

from __future__ import annotations

from typing import Final, NamedTuple

# --- shell ------------------------------------------------------------------------------------
URL: Final = "url"
PAGE: Final = "page"
VIEWPORT: Final = "viewport"  # {w, h} of the browser window, measured once on load
DB_NOTICE: Final = "db-notice"  # "数据库暂时不可用" on every screen while the database is away (callbacks/database.py)
DB_POLL: Final = "db-poll"  # its interval

# --- wall: plumbing ---------------------------------------------------------------------------
WALL: Final = "wall"
TICK: Final = "wall-tick"  # the one 1 s interval
PUSH: Final = "wall-push"  # assets/push.js writes each pushed change here (Server-Sent Events)
VERSIONS: Final = "wall-versions"  # aggregate versions (and KPI signatures) the client already shows
META: Final = "wall-meta"  # {name: computed_at, "now": server time, "ok": bool}, every second
STRINGS: Final = "wall-strings"  # the few translated strings the clientside code needs
CLOCK: Final = "wall-clock"
CLOCK_DATE: Final = "wall-clock-date"
CLOCK_ZONE: Final = "wall-clock-zone"
LANG_SWITCH: Final = "wall-lang"
SESSION_BANNER: Final = "wall-session"  # "登录已失效" banner, shown by assets/wall.js when the session is gone
WALL_SLIDER: Final = "wall-slider"  # the last 24 h: minutes before now (0 = live)
WALL_LIVE: Final = "wall-live"  # back to live
WALL_EARLIER: Final = "wall-earlier"  # the replay a step back (REPLAY_STEP_MIN)
WALL_LATER: Final = "wall-later"  # the replay a step forward
WALL_MODE: Final = "wall-mode"  # "实时" or "回放 14:05"

# --- KPI strip --------------------------------------------------------------------------------
KPI_INCIDENTS: Final = "kpi-incidents"
KPI_UNITS: Final = "kpi-units"
KPI_SENSORS: Final = "kpi-sensors"
KPI_TRAFFIC: Final = "kpi-traffic"
KPI_HOTLINE: Final = "kpi-hotline"
KPI_RESPONSE: Final = "kpi-response"
KPI_RESOLUTION: Final = "kpi-resolution"
KPI_SATISFACTION: Final = "kpi-satisfaction"
KPI_CROWD: Final = "kpi-crowd"
KPIS: Final = (
    KPI_INCIDENTS,
    KPI_UNITS,
    KPI_SENSORS,
    KPI_TRAFFIC,
    KPI_HOTLINE,
    KPI_RESPONSE,
    KPI_RESOLUTION,
    KPI_SATISFACTION,
    KPI_CROWD,
)
# The value and the sub-line of each KPI card.
KPI_VALUE: Final = {
    KPI_INCIDENTS: "kpi-incidents-value",
    KPI_UNITS: "kpi-units-value",
    KPI_SENSORS: "kpi-sensors-value",
    KPI_TRAFFIC: "kpi-traffic-value",
    KPI_HOTLINE: "kpi-hotline-value",
    KPI_RESPONSE: "kpi-response-value",
    KPI_RESOLUTION: "kpi-resolution-value",
    KPI_SATISFACTION: "kpi-satisfaction-value",
    KPI_CROWD: "kpi-crowd-value",
}
KPI_SUB: Final = {
    KPI_INCIDENTS: "kpi-incidents-sub",
    KPI_UNITS: "kpi-units-sub",
    KPI_SENSORS: "kpi-sensors-sub",
    KPI_TRAFFIC: "kpi-traffic-sub",
    KPI_HOTLINE: "kpi-hotline-sub",
    KPI_RESPONSE: "kpi-response-sub",
    KPI_RESOLUTION: "kpi-resolution-sub",
    KPI_SATISFACTION: "kpi-satisfaction-sub",
    KPI_CROWD: "kpi-crowd-sub",
}

# --- panels (each has a freshness badge) ------------------------------------------------------
PANEL_KPI: Final = "panel-kpi"
PANEL_MAP: Final = "panel-map"
PANEL_SENSORS: Final = "panel-sensors"
PANEL_INCIDENTS: Final = "panel-incidents"
PANEL_TRAFFIC: Final = "panel-traffic"
PANEL_HOTLINE: Final = "panel-hotline"
PANEL_TICKER: Final = "panel-ticker"
PANELS: Final = (PANEL_KPI, PANEL_MAP, PANEL_SENSORS, PANEL_INCIDENTS, PANEL_TRAFFIC, PANEL_HOTLINE, PANEL_TICKER)
FRESHNESS: Final = {
    PANEL_KPI: "fresh-kpi",
    PANEL_MAP: "fresh-map",
    PANEL_SENSORS: "fresh-sensors",
    PANEL_INCIDENTS: "fresh-incidents",
    PANEL_TRAFFIC: "fresh-traffic",
    PANEL_HOTLINE: "fresh-hotline",
    PANEL_TICKER: "fresh-ticker",
}

# --- map --------------------------------------------------------------------------------------
MAP: Final = "map"
MAP_TILES: Final = "map-tiles"
MAP_LAYERS: Final = "map-layers"
MAP_BOUNDARY: Final = "map-boundary"
MAP_SUBDISTRICTS: Final = "map-subdistricts"
MAP_LABELS: Final = "map-labels"
MAP_SENSORS: Final = "map-sensors"
MAP_INCIDENTS: Final = "map-incidents"
MAP_CORRIDORS: Final = "map-corridors"
MAP_HEAT: Final = "map-heat"
MAP_PARKING: Final = "map-parking"
MAP_CROWD: Final = "map-crowd"
MAP_LEGEND: Final = "map-legend"


class MapIds(NamedTuple):
    """The IDs of one district map (layouts/map/panel.py builds it): the wall's and the tablet's differ."""

    map: str
    tiles: str
    layers: str
    boundary: str
    subdistricts: str
    labels: str
    sensors: str
    incidents: str
    corridors: str
    heat: str
    parking: str
    crowd: str
    legend: str
    warnings: str  # 未诉先办 early warnings


MAP_WARNINGS: Final = "map-warnings"
WALL_MAP: Final = MapIds(MAP, MAP_TILES, MAP_LAYERS, MAP_BOUNDARY, MAP_SUBDISTRICTS, MAP_LABELS, MAP_SENSORS,
                         MAP_INCIDENTS, MAP_CORRIDORS, MAP_HEAT, MAP_PARKING, MAP_CROWD, MAP_LEGEND, MAP_WARNINGS)
TABLET_MAP: Final = MapIds(
    "tablet-map", "tablet-map-tiles", "tablet-map-layers", "tablet-map-boundary", "tablet-map-subdistricts",
    "tablet-map-labels", "tablet-map-sensors", "tablet-map-incidents", "tablet-map-corridors", "tablet-map-heat",
    "tablet-map-parking", "tablet-map-crowd", "tablet-map-legend", "tablet-map-warnings",
)

# --- the leaders' tablet (layouts/tablet.py, callbacks/tablet.py) ---------------------------------------
TABLET: Final = "tablet"
TABLET_TICK: Final = "tablet-tick"  # the refresh interval
TABLET_STATE: Final = "tablet-state"  # store: signatures of what the tablet shows (only changes are sent)
TABLET_MODE: Final = "tablet-mode"  # "实时" or "回放 14:05"
TABLET_SILENT: Final = "tablet-silent"  # "数据中断 · 12 秒前", shown by the browser while the server is silent
TABLET_REPORT: Final = "tablet-report"  # link to the daily report
TABLET_KPIS: Final = "tablet-kpis"
TABLET_SLIDER: Final = "tablet-slider"  # minutes before now (0 = live)
TABLET_LIVE: Final = "tablet-live"  # back to live
TABLET_SUBDISTRICT: Final = "tablet-subdistrict"  # the drill-down's picker
TABLET_DRILL: Final = "tablet-drill"
TABLET_ESCALATIONS: Final = "tablet-escalations"  # incidents escalated to the leader
TABLET_OPEN: Final = "tablet-open"  # the open incidents: by severity, and the most severe by name
TABLET_TREND_HOTLINE: Final = "tablet-trend-hotline"
TABLET_TREND_INCIDENTS: Final = "tablet-trend-incidents"

# --- sensors panel ----------------------------------------------------------------------------
SENSORS_CHART: Final = "sensors-chart"
SENSORS_ALARMS: Final = "sensors-alarms"
SENSORS_SILENT: Final = "sensors-silent"
SENSORS_SUMMARY: Final = "sensors-summary"

# --- incidents panel --------------------------------------------------------------------------
INCIDENTS_LIST: Final = "incidents-list"
INCIDENTS_SUMMARY: Final = "incidents-summary"
INCIDENT_ROW: Final = "incident-row"  # pattern-ID type: {"type": INCIDENT_ROW, "index": incident id}

# --- traffic panel ----------------------------------------------------------------------------
TRAFFIC_SERIES: Final = "traffic-series"
TRAFFIC_CORRIDORS: Final = "traffic-corridors"
TRAFFIC_PARKING: Final = "traffic-parking"
TRAFFIC_SUMMARY: Final = "traffic-summary"

# --- hotline panel ----------------------------------------------------------------------------
HOTLINE_CATEGORIES: Final = "hotline-categories"
HOTLINE_SUBDISTRICTS: Final = "hotline-subdistricts"
HOTLINE_HOURLY: Final = "hotline-hourly"
HOTLINE_SUMMARY: Final = "hotline-summary"

# --- ticker -----------------------------------------------------------------------------------
TICKER_ITEMS: Final = "ticker-items"


def all_ids() -> list[str]:
    """Every string ID defined here (for the uniqueness test)."""
    out: list[str] = []
    for name, value in globals().items():
        if name.isupper() and isinstance(value, str):
            out.append(value)
        elif name in ("KPI_VALUE", "KPI_SUB", "FRESHNESS"):
            out.extend(value.values())
    return out

# --- dispatch console -------------------------------------------------------------------------
DISPATCH: Final = "dispatch"  # the page root
DISPATCH_TICK: Final = "dispatch-tick"  # the queue/detail poll (~2 s)
DISPATCH_CLOCK: Final = "dispatch-clock"
DISPATCH_LANG: Final = "dispatch-lang"
DISPATCH_NEW_BUTTON: Final = "dispatch-new"
DISPATCH_FILTER_STATE: Final = "dispatch-filter-state"
DISPATCH_FILTER_SEVERITY: Final = "dispatch-filter-severity"
DISPATCH_FILTER_SUBDISTRICT: Final = "dispatch-filter-subdistrict"
DISPATCH_QUEUE: Final = "dispatch-queue"
DISPATCH_PROPOSALS: Final = "dispatch-proposals"  # 未诉先办 warnings and 热线+网格 links, above the queue
# Buttons of the proposals: {"type": PROPOSAL_ACTION, "kind": "warning" | "link", "ref": id, "arg": decision}.
PROPOSAL_ACTION: Final = "proposal-action"
DISPATCH_QUEUE_COUNT: Final = "dispatch-queue-count"
DISPATCH_ROW: Final = "dispatch-row"  # pattern-ID type: {"type": DISPATCH_ROW, "index": incident id}
DISPATCH_SELECTED: Final = "dispatch-selected"  # store: the incident id shown in the detail
DISPATCH_SHOWN: Final = "dispatch-shown"  # store: {"id", "version", "sig"} of the detail on screen
DISPATCH_REFRESH: Final = "dispatch-refresh"  # store: bumped after an action, refreshes queue and detail at once
DISPATCH_DETAIL: Final = "dispatch-detail"
DISPATCH_SUGGEST: Final = "dispatch-suggest"
DISPATCH_SUGGEST_RESORT: Final = "dispatch-suggest-resort"  # "重新排序": rank the suggested units afresh
# store: the list of action buttons the pointer (or the keyboard focus) is in, which then holds still
# (layouts/hold.py; written by assets/dispatch.js from the lists' data-hold attribute), or None.
DISPATCH_HOLD: Final = "dispatch-hold"
DISPATCH_PROPOSALS_SHOWN: Final = "dispatch-proposals-shown"  # store: the proposals on screen, in their order
DISPATCH_MAP: Final = "dispatch-map"
DISPATCH_MAP_INCIDENT: Final = "dispatch-map-incident"
DISPATCH_MAP_UNITS: Final = "dispatch-map-units"
DISPATCH_MAP_PICK: Final = "dispatch-map-pick"  # the point picked for a new incident
# Action buttons: {"type": DISPATCH_ACTION, "action": action, "arg": unit id / department / "", "key": uuid,
# "incident": id, "version": version}; the key is fresh per render of the detail (one key per intended action).
DISPATCH_ACTION: Final = "dispatch-action"
# Inputs of the detail's action forms: {"type": DISPATCH_FIELD, "field": "severity" | "reason" | "departments"}.
DISPATCH_FIELD: Final = "dispatch-field"
# Beside each of the detail's action forms, what its last click was refused for (a field missing or invalid):
# {"type": DISPATCH_FORM_ERROR, "action": "change_severity" | "whistle"}.
DISPATCH_FORM_ERROR: Final = "dispatch-form-error"
DISPATCH_TOAST: Final = "dispatch-toast"
DISPATCH_CONFIRM: Final = "dispatch-confirm"  # the confirmation modal of destructive actions
DISPATCH_CONFIRM_BODY: Final = "dispatch-confirm-body"
DISPATCH_CONFIRM_REASON: Final = "dispatch-confirm-reason"
DISPATCH_CONFIRM_OK: Final = "dispatch-confirm-ok"
DISPATCH_CONFIRM_CANCEL: Final = "dispatch-confirm-cancel"
DISPATCH_PENDING: Final = "dispatch-pending"  # store: the action waiting for confirmation
DISPATCH_CREATE: Final = "dispatch-create"  # the new-incident form (in the centre column)
DISPATCH_CREATE_CATEGORY: Final = "dispatch-create-category"
DISPATCH_CREATE_SEVERITY: Final = "dispatch-create-severity"
DISPATCH_CREATE_TITLE: Final = "dispatch-create-title"
DISPATCH_CREATE_DESCRIPTION: Final = "dispatch-create-description"
DISPATCH_CREATE_LON: Final = "dispatch-create-lon"
DISPATCH_CREATE_LAT: Final = "dispatch-create-lat"
DISPATCH_CREATE_SUBMIT: Final = "dispatch-create-submit"
DISPATCH_CREATE_CLOSE: Final = "dispatch-create-close"
DISPATCH_CREATE_KEY: Final = "dispatch-create-key"  # store: the idempotency key of the form as opened
DISPATCH_CREATE_ERROR: Final = "dispatch-create-error"

# --- alarm takeover (layouts/alarm.py, callbacks/alarm.py, assets/alarm.js) ---------------------------
ALARM_BANNER: Final = "alarm-banner"  # full-width banner over the top of the wall; hidden without an alarm
ALARM_CONTENT: Final = "alarm-content"  # severity, title, subdistrict, time of the most urgent alarm
ALARM_ACK: Final = "alarm-ack"  # the big acknowledge button
ALARM_MSG: Final = "alarm-msg"  # the outcome of an acknowledgement (a refusal's reason)
ALARM_HINT: Final = "alarm-hint"  # "click once to enable alarm sound", hidden after the first click
ALARM_STORE: Final = "alarm-store"  # {"sig": str, "alarms": [...]}: what alarms now; drives sound and fly-to
ALARM_JS: Final = "alarm-js"  # dummy output of the clientside callback

# --- admin (layouts/admin/, callbacks/admin.py) --------------------------------------------------
ADMIN: Final = "admin"  # the page root; its className names the open section ("admin adm-tab-users" …)
ADMIN_TABS: Final = "admin-tabs"  # the section switch: users | settings | health | audit
ADMIN_TOAST: Final = "admin-toast"
ADMIN_TICK: Final = "admin-tick"  # refreshes the health section while it is open
ADMIN_REFRESH: Final = "admin-refresh"  # store: bumped after a change, the sections re-read at once
ADMIN_USERS: Final = "admin-users"  # the users table
ADMIN_USER_ROW: Final = "admin-user-row"  # pattern-ID type: {"type": ADMIN_USER_ROW, "index": user id}
ADMIN_USER_SELECTED: Final = "admin-user-selected"  # store: the id of the user in the edit panel
ADMIN_USER_TITLE: Final = "admin-user-title"  # the edit panel's heading (who, role, state)
ADMIN_USER_ROLE: Final = "admin-user-role"
ADMIN_USER_ROLE_SAVE: Final = "admin-user-role-save"
ADMIN_USER_PASSWORD: Final = "admin-user-password"
ADMIN_USER_PASSWORD_SAVE: Final = "admin-user-password-save"
ADMIN_USER_DISABLE: Final = "admin-user-disable"
ADMIN_USER_ENABLE: Final = "admin-user-enable"
ADMIN_USER_ERROR: Final = "admin-user-error"
ADMIN_NEW_USERNAME: Final = "admin-new-username"
ADMIN_NEW_DISPLAY: Final = "admin-new-display"
ADMIN_NEW_ROLE: Final = "admin-new-role"
ADMIN_NEW_PASSWORD: Final = "admin-new-password"
ADMIN_NEW_SUBMIT: Final = "admin-new-submit"
ADMIN_NEW_ERROR: Final = "admin-new-error"
ADMIN_CONFIRM: Final = "admin-confirm"  # the modal that asks before disabling, re-roling, resetting a password
ADMIN_CONFIRM_BODY: Final = "admin-confirm-body"
ADMIN_CONFIRM_OK: Final = "admin-confirm-ok"
ADMIN_CONFIRM_CANCEL: Final = "admin-confirm-cancel"
ADMIN_PENDING: Final = "admin-pending"  # store: the user operation waiting for confirmation
# Threshold inputs: {"type": ADMIN_THRESHOLD, "sensor": sensor type, "level": "warn" | "alarm"}.
ADMIN_THRESHOLD: Final = "admin-threshold"
ADMIN_THRESHOLDS_SAVE: Final = "admin-thresholds-save"
ADMIN_THRESHOLDS_META: Final = "admin-thresholds-meta"  # who saved them when
ADMIN_THRESHOLDS_ERROR: Final = "admin-thresholds-error"
# Deadline inputs: {"type": ADMIN_DEADLINE, "group": "incident_min" | "hotline_h" | "summons_min", "key": …}.
ADMIN_DEADLINE: Final = "admin-deadline"
ADMIN_DEADLINES_SAVE: Final = "admin-deadlines-save"
ADMIN_DEADLINES_META: Final = "admin-deadlines-meta"
ADMIN_DEADLINES_ERROR: Final = "admin-deadlines-error"
ADMIN_SETTINGS_VERSIONS: Final = "admin-settings-versions"  # store: {key: version} of the documents shown
ADMIN_SOURCES: Final = "admin-sources"
ADMIN_QUEUES: Final = "admin-queues"
ADMIN_WORKERS: Final = "admin-workers"
ADMIN_HEALTH_STAMP: Final = "admin-health-stamp"  # tick heartbeat, schedulers, time of the reading
ADMIN_AUDIT_ACTOR: Final = "admin-audit-actor"
ADMIN_AUDIT_ACTION: Final = "admin-audit-action"
ADMIN_AUDIT_OUTCOME: Final = "admin-audit-outcome"
ADMIN_AUDIT_TARGET: Final = "admin-audit-target"
ADMIN_AUDIT_SINCE: Final = "admin-audit-since"
ADMIN_AUDIT_UNTIL: Final = "admin-audit-until"
ADMIN_AUDIT_APPLY: Final = "admin-audit-apply"
ADMIN_AUDIT_PREV: Final = "admin-audit-prev"
ADMIN_AUDIT_NEXT: Final = "admin-audit-next"
ADMIN_AUDIT_PAGE: Final = "admin-audit-page"  # store: the page shown (0 = newest)
ADMIN_AUDIT_TABLE: Final = "admin-audit-table"
ADMIN_AUDIT_COUNT: Final = "admin-audit-count"
# The sensors section: search box, page store (1-based), pager, table and count.
ADMIN_SENSOR_QUERY: Final = "admin-sensor-query"
ADMIN_SENSOR_PAGE: Final = "admin-sensor-page"
ADMIN_SENSOR_PREV: Final = "admin-sensor-prev"
ADMIN_SENSOR_NEXT: Final = "admin-sensor-next"
ADMIN_SENSOR_TABLE: Final = "admin-sensor-table"
ADMIN_SENSOR_COUNT: Final = "admin-sensor-count"
