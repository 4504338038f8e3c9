"""Translations (zh-CN first, English on request) and locale-aware formatting in Beijing time."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Final

LANGS: Final = ("zh", "en")
DEFAULT_LANG: Final = "zh"


def _beijing() -> tzinfo:
    """Asia/Shanghai from the tz database; China has had no DST since 1991, so UTC+8 is the fallback."""
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Asia/Shanghai")
    except Exception:  # no tz database on the machine
        return timezone(timedelta(hours=8), "CST")


BEIJING: Final = _beijing()

# Keys are "<group>.<name>"; both catalogues must hold exactly the same keys (a test checks it).
ZH: Final[dict[str, str]] = {
    # app and login (the login page is rendered by dashboard.auth)
    "app.title": "东城区城市运行指挥中心",
    "app.subtitle": "一网统管 · 实时态势",
    "login.subtitle": "请使用值班账号登录",
    "login.username": "用户名",
    "login.password": "密码",
    "login.submit": "登录",
    "login.invalid": "用户名或密码错误",
    "login.expired": "页面已过期，请重新登录",
    # shell and placeholder pages
    "page.loading": "加载中…",
    # session expired: the wall's banner before it goes to the login page
    "session.expired": "登录已失效，请重新登录",
    "session.redirect": "{n} 秒后转到登录页",
    "page.not_found": "页面不存在",
    "page.forbidden": "您的账号无权访问此页面",
    "page.back_to_wall": "返回指挥大屏",
    "page.login": "登录",
    "page.logout": "退出",
    "page.coming": "该页面将在后续版本中提供",
    "page.coming_detail": "当前版本提供指挥大屏；此页面将在后续版本中上线。",
    "page.tablet": "领导平板",
    "page.dispatch": "调度工作台",
    "page.admin": "系统管理",
    "page.wall": "指挥大屏",
    "lang.zh": "中文",
    "lang.en": "EN",
    # KPI strip
    "kpi.incidents": "未结事件",
    "kpi.incidents_sub": "共 {n} 起 · 超时 {o}",
    "kpi.units": "可用力量",
    "kpi.units_sub": "共 {n} 支",
    "kpi.sensors": "在线传感器",
    "kpi.sensors_sub": "告警 {a} · 离线 {s}",
    "kpi.traffic": "交通指数",
    "kpi.hotline": "今日12345工单",
    "kpi.hotline_sub": "接诉即办",
    "kpi.response": "响应率",
    "kpi.resolution": "解决率",
    "kpi.satisfaction": "满意率",
    "kpi.response_sub": "2小时内响应",
    "kpi.resolution_sub": "到期工单",
    "kpi.satisfaction_sub": "已评价工单",
    "kpi.crowd": "最热景区",
    "kpi.none": "—",
    # panels
    "panel.map": "城市运行一张图",
    "panel.sensors": "物联感知",
    "panel.incidents": "突发事件",
    "panel.traffic": "交通运行",
    "panel.hotline": "接诉即办 · 12345",
    "panel.ticker": "最新动态",
    "panel.empty": "暂无数据",
    # freshness (rendered in the browser from these templates)
    "fresh.ago_s": "{n} 秒前",
    "fresh.ago_m": "{n} 分钟前",
    "fresh.ago_h": "{n} 小时前",
    "fresh.none": "无数据",
    "fresh.down": "数据中断",
    "fresh.stale_label": "数据延迟",
    # incidents
    "inc.due_in": "剩 {t}",
    "inc.overdue": "超时 {t}",
    "inc.more": "另有 {n} 起",
    "inc.none": "当前无未结事件",
    "inc.summary": "未结 {n} · 超时 {o} · 今日 {t}",
    # sensors
    "sen.by_type": "异常传感器 · 按类型",
    "sen.alarms": "告警与预警",
    "sen.silent": "离线传感器",
    "sen.none_alarm": "无告警",
    "sen.none_silent": "全部在线",
    "sen.summary": "在线 {o}/{n}",
    "sen.more": "等 {n} 个",
    # traffic
    "tra.series": "区域交通指数 · 近3小时",
    "tra.corridors": "拥堵路段",
    "tra.parking": "医院周边停车",
    "tra.index": "指数",
    "tra.free": "余 {n}",
    # hotline
    "hot.by_category": "诉求分类",
    "hot.by_subdistrict": "街道排名",
    "hot.hourly": "今日与昨日",
    "hot.today": "今日",
    "hot.yesterday": "昨日",
    "hot.overdue": "超期 {n}",
    "hot.response": "响应",
    "hot.resolution": "解决",
    "hot.satisfaction": "满意",
    # ticker
    "tick.label": "最新动态",
    "tick.none": "暂无新动态",
    # map layers and legend
    "layer.sensors": "传感器",
    "layer.incidents": "突发事件",
    "layer.corridors": "道路拥堵",
    "layer.heat": "12345热力",
    "layer.parking": "停车场",
    "layer.crowd": "景区客流",
    "legend.title": "图例",
    "legend.severity": "事件等级",
    "legend.sensor": "传感器",
    "legend.traffic": "拥堵",
    "legend.heat": "诉求密度",
    "legend.low": "低",
    "legend.high": "高",
    # severities (China's four emergency levels)
    "sev.1": "I 特别重大",
    "sev.2": "II 重大",
    "sev.3": "III 较大",
    "sev.4": "IV 一般",
    # incident categories
    "inc_cat.fire": "火灾",
    "inc_cat.traffic_accident": "交通事故",
    "inc_cat.waterlogging": "积水内涝",
    "inc_cat.gas_leak": "燃气泄漏",
    "inc_cat.public_security": "治安事件",
    "inc_cat.medical": "医疗急救",
    "inc_cat.structure": "房屋建筑",
    "inc_cat.crowd": "人员聚集",
    "inc_cat.utility": "市政设施",
    "inc_cat.other": "其他",
    # incident lifecycle
    "inc_state.new": "新报",
    "inc_state.acknowledged": "已确认",
    "inc_state.dispatched": "已派遣",
    "inc_state.on_scene": "已到场",
    "inc_state.resolved": "已处置",
    "inc_state.closed": "已关闭",
    "inc_state.cancelled": "已取消",
    # hotline categories
    "hl_cat.heating": "供暖",
    "hl_cat.property": "物业管理",
    "hl_cat.noise": "噪声扰民",
    "hl_cat.parking_traffic": "停车交通",
    "hl_cat.sanitation": "环境卫生",
    "hl_cat.market": "市场监管",
    "hl_cat.housing": "住房保障",
    "hl_cat.construction": "施工扰民",
    "hl_cat.public_service": "公共服务",
    "hl_cat.other": "其他",
    # sensor types (一杆多感)
    "sensor.pm25": "PM2.5",
    "sensor.noise": "噪声",
    "sensor.water_level": "积水水位",
    "sensor.manhole_tilt": "井盖倾斜",
    "sensor.gas": "管廊燃气",
    "sensor.cold_chain_temp": "冷链温度",
    # sensor states
    "state.normal": "正常",
    "state.warning": "预警",
    "state.alarm": "告警",
    "state.silent": "离线",
    # Beijing traffic-index bands
    "band.smooth": "畅通",
    "band.basically_smooth": "基本畅通",
    "band.light": "轻度拥堵",
    "band.moderate": "中度拥堵",
    "band.severe": "严重拥堵",
    # crowd levels
    "crowd.low": "舒适",
    "crowd.medium": "适中",
    "crowd.high": "拥挤",
    "crowd.critical": "饱和",
    # ticker kinds
    "kind.incident": "事件",
    "kind.hotline_ticket": "12345",
    "kind.sensor_alarm": "告警",
    # dispatch console (/dispatch)
    "dsp.queue": "事件队列",
    "dsp.queue_count": "{n} 起",
    "dsp.queue_empty": "没有符合条件的事件",
    "dsp.keys_hint": "↑↓ 或 j/k 选择 · Enter 打开",
    "dsp.filter_state": "状态",
    "dsp.filter_severity": "等级",
    "dsp.filter_subdistrict": "街道",
    "dsp.state_open": "未结事件",
    "dsp.state_any": "全部状态",
    "dsp.sev_any": "全部等级",
    "dsp.sub_any": "全部街道",
    "dsp.detail": "事件详情",
    "dsp.none_selected": "请从左侧队列选择一个事件（↑↓ 或 j/k，Enter 打开）",
    "dsp.not_found": "事件 #{id} 不存在",
    "dsp.category": "类别",
    "dsp.severity": "等级",
    "dsp.state": "状态",
    "dsp.subdistrict": "街道",
    "dsp.source": "来源",
    "dsp.reported": "上报时间",
    "dsp.deadline": "处置时限",
    "dsp.acknowledged": "确认时间",
    "dsp.resolved": "处置时间",
    "dsp.closed": "关闭时间",
    "dsp.escalated": "已上报领导",
    "dsp.location": "位置",
    "dsp.actions": "可执行操作",
    "dsp.no_actions": "当前状态下您没有可执行的操作",
    "dsp.new_severity": "新等级",
    "dsp.reason": "原因",
    "dsp.reason_required": "原因（必填）",
    "dsp.reason_optional": "原因（选填）",
    "dsp.departments": "召集部门（吹哨报到）",
    "dsp.timeline": "处置记录",
    "dsp.refused": "被拒绝",
    "dsp.summons": "吹哨报到",
    "dsp.summons_none": "尚未召集部门",
    "dsp.summons_ack": "{who} {t} 已报到",
    "dsp.summons_waiting": "待报到",
    "dsp.units": "已派力量",
    "dsp.units_none": "尚未派遣力量",
    "dsp.map": "现场地图",
    "dsp.suggest": "推荐力量",
    "dsp.suggest_note": "先按力量类型适配，再按直线距离由近到远（非道路距离）",
    "dsp.suggest_none": "附近没有可派遣的合适力量",
    "dsp.suggest_closed": "当前状态不能派遣力量",
    "dsp.suggest_readonly": "仅调度员可派遣",
    "dsp.km": "{d} 公里",
    "dsp.confirm_title": "请确认",
    "dsp.confirm_text": "对事件 #{id}「{title}」执行「{action}」？",
    "dsp.confirm_lower": "等级将由 {a} 降为 {b}",
    "dsp.confirm_ok": "确认执行",
    "dsp.confirm_back": "返回",
    "dsp.toast_ok": "已完成",
    "dsp.toast_refused": "未执行",
    "dsp.toast_error": "未保存",
    "dsp.done": "{action}：事件 #{id}",
    "dsp.replayed": "该操作已执行过，未重复执行",
    "dsp.stale": "事件已被他人更新，页面已刷新；请核对后重试。",
    "dsp.forbidden": "您的角色无权执行此操作",
    "dsp.db_failed": "数据库故障：未保存任何内容，请重试",
    "dsp.new": "新建事件",
    "dsp.create_title": "手工新建事件",
    "dsp.create_hint": "在右侧地图上点击选点，或直接输入经纬度",
    "dsp.title": "标题",
    "dsp.description": "描述（选填）",
    "dsp.lon": "经度",
    "dsp.lat": "纬度",
    "dsp.create_submit": "创建事件",
    "dsp.create_close": "取消",
    "dsp.created": "已创建事件 #{id}",
    "dsp.missing": "请填写：{fields}",
    "dsp.signed_in": "{user} · {role}",
    "role.duty": "值班员",
    "role.leader": "领导",
    "role.dispatch": "调度员",
    "role.admin": "管理员",
    "role.system": "系统",
    "act.acknowledge": "确认接警",
    "act.dispatch": "派遣",
    "act.arrive": "到场",
    "act.resolve": "处置完毕",
    "act.close": "关闭事件",
    "act.cancel": "取消事件",
    "act.reopen": "重新打开",
    "act.change_severity": "调整等级",
    "act.whistle": "吹哨",
    "act.acknowledge_summons": "报到",
    "act.escalate": "上报领导",
    "act.create": "新建",
    "act.reported": "接报",
    "act.summons_escalated": "报到超时，已上报",
    "act.incident_escalated": "处置超时，已上报",
    "unit_kind.police": "公安",
    "unit_kind.fire": "消防",
    "unit_kind.ambulance": "急救",
    "unit_kind.chengguan": "城管",
    "unit_kind.grid": "网格员",
    "unit_kind.utility": "抢修",
    "unit_status.available": "待命",
    "unit_status.dispatched": "已派遣",
    "unit_status.en_route": "在途",
    "unit_status.on_scene": "已到场",
    "unit_status.returning": "返回中",
    "unit_status.off_duty": "休班",
    "dsp.overdue_flag": "已超时",
    "src.console": "手工录入",
    "src.simulator": "模拟数据",
    # --- alarm takeover
    "alarm.label": "警报",
    "alarm.ack": "确认警报",
    "alarm.hint": "点击一次以启用警报声音",
    "alarm.more": "另有 {n} 起警报",
    "alarm.done": "已确认事件 {id}",
    "alarm.refused": "无法确认",
    "alarm.db_failed": "未能保存，请重试",
}

EN: Final[dict[str, str]] = {
    "app.title": "Dongcheng City Operations Command Centre",
    "app.subtitle": "One network, unified management",
    "login.subtitle": "Sign in with your duty account",
    "login.username": "User name",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.invalid": "Wrong user name or password",
    "login.expired": "The page expired, please sign in again",
    "page.loading": "Loading…",
    "session.expired": "Session expired — sign in again",
    "session.redirect": "Going to the sign-in page in {n} s",
    "page.not_found": "Page not found",
    "page.forbidden": "Your account may not open this page",
    "page.back_to_wall": "Back to the wall",
    "page.login": "Sign in",
    "page.logout": "Sign out",
    "page.coming": "This screen arrives in a later release",
    "page.coming_detail": "This release provides the command wall; this screen comes in a later release.",
    "page.tablet": "Leader tablet",
    "page.dispatch": "Dispatch console",
    "page.admin": "Administration",
    "page.wall": "Command wall",
    "lang.zh": "中文",
    "lang.en": "EN",
    "kpi.incidents": "Open incidents",
    "kpi.incidents_sub": "{n} open · {o} overdue",
    "kpi.units": "Units available",
    "kpi.units_sub": "of {n}",
    "kpi.sensors": "Sensors online",
    "kpi.sensors_sub": "{a} alarm · {s} off",
    "kpi.traffic": "Traffic index",
    "kpi.hotline": "12345 today",
    "kpi.hotline_sub": "tickets",
    "kpi.response": "Response",
    "kpi.resolution": "Resolution",
    "kpi.satisfaction": "Satisfaction",
    "kpi.response_sub": "within 2 h",
    "kpi.resolution_sub": "of due tickets",
    "kpi.satisfaction_sub": "of rated",
    "kpi.crowd": "Busiest scenic spot",
    "kpi.none": "—",
    "panel.map": "City operations map",
    "panel.sensors": "Live sensors",
    "panel.incidents": "Incidents",
    "panel.traffic": "Traffic",
    "panel.hotline": "12345 hotline",
    "panel.ticker": "Latest",
    "panel.empty": "No data",
    "fresh.ago_s": "{n} s ago",
    "fresh.ago_m": "{n} min ago",
    "fresh.ago_h": "{n} h ago",
    "fresh.none": "no data",
    "fresh.down": "feed down",
    "fresh.stale_label": "STALE DATA",
    "inc.due_in": "{t} left",
    "inc.overdue": "{t} over",
    "inc.more": "{n} more",
    "inc.none": "No open incidents",
    "inc.summary": "{n} open · {o} overdue · {t} today",
    "sen.by_type": "Needing attention, by type",
    "sen.alarms": "Alarms and warnings",
    "sen.silent": "Silent sensors",
    "sen.none_alarm": "No alarms",
    "sen.none_silent": "All reporting",
    "sen.summary": "{o}/{n} online",
    "sen.more": "+{n}",
    "tra.series": "District traffic index · last 3 h",
    "tra.corridors": "Congested corridors",
    "tra.parking": "Parking near hospitals",
    "tra.index": "Index",
    "tra.free": "{n} free",
    "hot.by_category": "By category",
    "hot.by_subdistrict": "By subdistrict",
    "hot.hourly": "Today vs yesterday",
    "hot.today": "Today",
    "hot.yesterday": "Yesterday",
    "hot.overdue": "{n} overdue",
    "hot.response": "Resp.",
    "hot.resolution": "Resol.",
    "hot.satisfaction": "Satisf.",
    "tick.label": "Latest",
    "tick.none": "Nothing new",
    "layer.sensors": "Sensors",
    "layer.incidents": "Incidents",
    "layer.corridors": "Congestion",
    "layer.heat": "12345 heatmap",
    "layer.parking": "Car parks",
    "layer.crowd": "Scenic crowds",
    "legend.title": "Legend",
    "legend.severity": "Severity",
    "legend.sensor": "Sensors",
    "legend.traffic": "Congestion",
    "legend.heat": "12345 tickets",
    "legend.low": "low",
    "legend.high": "high",
    "sev.1": "I Extremely serious",
    "sev.2": "II Serious",
    "sev.3": "III Relatively serious",
    "sev.4": "IV Ordinary",
    "inc_cat.fire": "Fire",
    "inc_cat.traffic_accident": "Traffic accident",
    "inc_cat.waterlogging": "Waterlogging",
    "inc_cat.gas_leak": "Gas leak",
    "inc_cat.public_security": "Public security",
    "inc_cat.medical": "Medical",
    "inc_cat.structure": "Structure",
    "inc_cat.crowd": "Crowd",
    "inc_cat.utility": "Utility",
    "inc_cat.other": "Other",
    "inc_state.new": "New",
    "inc_state.acknowledged": "Acknowledged",
    "inc_state.dispatched": "Dispatched",
    "inc_state.on_scene": "On scene",
    "inc_state.resolved": "Resolved",
    "inc_state.closed": "Closed",
    "inc_state.cancelled": "Cancelled",
    "hl_cat.heating": "Heating",
    "hl_cat.property": "Property",
    "hl_cat.noise": "Noise",
    "hl_cat.parking_traffic": "Parking/traffic",
    "hl_cat.sanitation": "Sanitation",
    "hl_cat.market": "Market",
    "hl_cat.housing": "Housing",
    "hl_cat.construction": "Construction",
    "hl_cat.public_service": "Public services",
    "hl_cat.other": "Other",
    "sensor.pm25": "PM2.5",
    "sensor.noise": "Noise",
    "sensor.water_level": "Water level",
    "sensor.manhole_tilt": "Manhole tilt",
    "sensor.gas": "Tunnel gas",
    "sensor.cold_chain_temp": "Cold chain",
    "state.normal": "Normal",
    "state.warning": "Warning",
    "state.alarm": "Alarm",
    "state.silent": "Silent",
    "band.smooth": "Smooth",
    "band.basically_smooth": "Mostly smooth",
    "band.light": "Light jam",
    "band.moderate": "Moderate jam",
    "band.severe": "Severe jam",
    "crowd.low": "Low",
    "crowd.medium": "Medium",
    "crowd.high": "High",
    "crowd.critical": "Critical",
    "kind.incident": "Incident",
    "kind.hotline_ticket": "12345",
    "kind.sensor_alarm": "Alarm",
    # dispatch console (/dispatch)
    "dsp.queue": "Incident queue",
    "dsp.queue_count": "{n} incidents",
    "dsp.queue_empty": "No incident matches",
    "dsp.keys_hint": "↑↓ or j/k to move · Enter to open",
    "dsp.filter_state": "State",
    "dsp.filter_severity": "Severity",
    "dsp.filter_subdistrict": "Subdistrict",
    "dsp.state_open": "Open incidents",
    "dsp.state_any": "All states",
    "dsp.sev_any": "All severities",
    "dsp.sub_any": "All subdistricts",
    "dsp.detail": "Incident",
    "dsp.none_selected": "Select an incident in the queue (↑↓ or j/k, Enter to open)",
    "dsp.not_found": "There is no incident #{id}",
    "dsp.category": "Category",
    "dsp.severity": "Severity",
    "dsp.state": "State",
    "dsp.subdistrict": "Subdistrict",
    "dsp.source": "Source",
    "dsp.reported": "Reported",
    "dsp.deadline": "Deadline",
    "dsp.acknowledged": "Acknowledged",
    "dsp.resolved": "Resolved",
    "dsp.closed": "Closed",
    "dsp.escalated": "Escalated to the leader",
    "dsp.location": "Location",
    "dsp.actions": "Actions",
    "dsp.no_actions": "No action is open to you in this state",
    "dsp.new_severity": "New severity",
    "dsp.reason": "Reason",
    "dsp.reason_required": "Reason (required)",
    "dsp.reason_optional": "Reason (optional)",
    "dsp.departments": "Summon departments (吹哨报到)",
    "dsp.timeline": "Timeline",
    "dsp.refused": "refused",
    "dsp.summons": "Summons (吹哨报到)",
    "dsp.summons_none": "No department summoned",
    "dsp.summons_ack": "reported by {who} at {t}",
    "dsp.summons_waiting": "waiting",
    "dsp.units": "Units assigned",
    "dsp.units_none": "No unit assigned yet",
    "dsp.map": "Map",
    "dsp.suggest": "Suggested units",
    "dsp.suggest_note": "best-suited kind first, then nearest by straight-line distance (not by road)",
    "dsp.suggest_none": "No suitable unit is available nearby",
    "dsp.suggest_closed": "No unit can be dispatched in this state",
    "dsp.suggest_readonly": "Only dispatchers can dispatch",
    "dsp.km": "{d} km",
    "dsp.confirm_title": "Please confirm",
    "dsp.confirm_text": "{action}: #{id} “{title}”?",
    "dsp.confirm_lower": "The severity goes down from {a} to {b}",
    "dsp.confirm_ok": "Confirm",
    "dsp.confirm_back": "Go back",
    "dsp.toast_ok": "Done",
    "dsp.toast_refused": "Not done",
    "dsp.toast_error": "Not saved",
    "dsp.done": "{action}: incident #{id}",
    "dsp.replayed": "This action was already taken; it was not repeated",
    "dsp.stale": "Someone changed the incident since you saw it; the screen is refreshed — check and retry.",
    "dsp.forbidden": "Your role may not do this",
    "dsp.db_failed": "Database failure: nothing was saved — retry",
    "dsp.new": "New incident",
    "dsp.create_title": "Create an incident by hand",
    "dsp.create_hint": "Click the map on the right to place it, or type longitude and latitude",
    "dsp.title": "Title",
    "dsp.description": "Description (optional)",
    "dsp.lon": "Longitude",
    "dsp.lat": "Latitude",
    "dsp.create_submit": "Create incident",
    "dsp.create_close": "Cancel",
    "dsp.created": "Created incident #{id}",
    "dsp.missing": "Please fill in: {fields}",
    "dsp.signed_in": "{user} · {role}",
    "role.duty": "Duty officer",
    "role.leader": "Leader",
    "role.dispatch": "Dispatcher",
    "role.admin": "Administrator",
    "role.system": "System",
    "act.acknowledge": "Acknowledge",
    "act.dispatch": "Dispatch",
    "act.arrive": "Arrived",
    "act.resolve": "Resolve",
    "act.close": "Close",
    "act.cancel": "Cancel incident",
    "act.reopen": "Reopen",
    "act.change_severity": "Change severity",
    "act.whistle": "Whistle (summon)",
    "act.acknowledge_summons": "Report in",
    "act.escalate": "Escalate",
    "act.create": "Created",
    "act.reported": "Reported",
    "act.summons_escalated": "Summons overdue, escalated",
    "act.incident_escalated": "Overdue, escalated",
    "unit_kind.police": "Police",
    "unit_kind.fire": "Fire",
    "unit_kind.ambulance": "Ambulance",
    "unit_kind.chengguan": "Urban mgmt",
    "unit_kind.grid": "Grid worker",
    "unit_kind.utility": "Utility crew",
    "unit_status.available": "Available",
    "unit_status.dispatched": "Dispatched",
    "unit_status.en_route": "En route",
    "unit_status.on_scene": "On scene",
    "unit_status.returning": "Returning",
    "unit_status.off_duty": "Off duty",
    "dsp.overdue_flag": "OVERDUE",
    "src.console": "entered by hand",
    "src.simulator": "simulator",
    # --- alarm takeover
    "alarm.label": "ALARM",
    "alarm.ack": "Acknowledge",
    "alarm.hint": "Click once to enable alarm sound",
    "alarm.more": "{n} more alarms",
    "alarm.done": "Incident {id} acknowledged",
    "alarm.refused": "Cannot acknowledge",
    "alarm.db_failed": "Nothing was saved; please retry",
}

CATALOGUES: Final = {"zh": ZH, "en": EN}


def norm_lang(lang: str | None) -> str:
    """A supported language code ("zh" or "en"); anything else falls back to Chinese."""
    if not lang:
        return DEFAULT_LANG
    code = lang.lower().split("-")[0].split("_")[0]
    return code if code in CATALOGUES else DEFAULT_LANG


def t(key: str, lang: str | None = DEFAULT_LANG, **params: object) -> str:
    """Translate `key` into `lang`, filling `{name}` placeholders; an unknown key shows itself."""
    cat = CATALOGUES.get(lang or DEFAULT_LANG) or CATALOGUES[norm_lang(lang)]
    text = cat.get(key) or ZH.get(key) or key
    return text.format(**params) if params else text


def name(group: str, code: object, lang: str) -> str:
    """The display name of a coded value, e.g. name("band", "light", "zh") -> "轻度拥堵"."""
    key = f"{group}.{code}"
    cat = CATALOGUES.get(lang) or ZH
    return cat.get(key) or str(code)


def severity_name(sev: int, lang: str) -> str:
    """"I 特别重大" … "IV 一般"."""
    return name("sev", sev, lang)


def fmt_int(n: float | None, lang: str = DEFAULT_LANG) -> str:
    """An integer with thousands separators (both locales group by three with commas)."""
    if n is None or (isinstance(n, float) and not math.isfinite(n)):
        return "—"
    return f"{round(n):,}"


def fmt_num(x: float | None, lang: str = DEFAULT_LANG, digits: int = 1) -> str:
    """A decimal number with `digits` decimals."""
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:,.{digits}f}"


def fmt_pct(ratio: float | None, lang: str = DEFAULT_LANG, digits: int = 1) -> str:
    """A 0–1 ratio as a percentage, e.g. 0.982 -> "98.2%"."""
    if ratio is None or not math.isfinite(ratio):
        return "—"
    return f"{ratio * 100:.{digits}f}%"


def to_beijing(epoch: float) -> datetime:
    """Epoch seconds (UTC) as an aware datetime in Beijing time."""
    return datetime.fromtimestamp(epoch, UTC).astimezone(BEIJING)


def fmt_time(epoch: float | None, lang: str = DEFAULT_LANG, seconds: bool = True) -> str:
    """Beijing wall-clock time, "14:05:09" (24-hour in both locales)."""
    if epoch is None:
        return "—"
    return to_beijing(epoch).strftime("%H:%M:%S" if seconds else "%H:%M")


_WEEKDAYS_ZH: Final = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


def fmt_date(epoch: float, lang: str = DEFAULT_LANG) -> str:
    """Beijing date: "2025年3月4日 星期二" or "Tue 4 Mar 2025"."""
    d = to_beijing(epoch)
    if lang == "en":
        return d.strftime("%a %-d %b %Y")
    return f"{d.year}年{d.month}月{d.day}日 {_WEEKDAYS_ZH[d.weekday()]}"


def fmt_age(seconds: float | None, lang: str = DEFAULT_LANG) -> str:
    """How long ago: "3 秒前" / "3 s ago", then minutes, then hours."""
    if seconds is None or not math.isfinite(seconds):
        return t("fresh.none", lang)
    s = max(0, int(seconds))
    if s < 60:
        return t("fresh.ago_s", lang, n=s)
    if s < 3600:
        return t("fresh.ago_m", lang, n=s // 60)
    return t("fresh.ago_h", lang, n=s // 3600)


def fmt_duration(seconds: float, lang: str = DEFAULT_LANG) -> str:
    """A duration as "1:05:09" or "05:09" (the same in both locales)."""
    s = abs(int(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def js_strings(lang: str) -> dict[str, str]:
    """The templates the browser needs to render ages and deadlines itself (no server round trip)."""
    keys = (
        "fresh.ago_s",
        "fresh.ago_m",
        "fresh.ago_h",
        "fresh.none",
        "fresh.down",
        "fresh.stale_label",
        "inc.due_in",
        "inc.overdue",
    )
    return {k: t(k, lang) for k in keys} | {"lang": lang}
