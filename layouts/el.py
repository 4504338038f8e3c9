"""Elements as plain JSON for the refresh path: what a dash.html component serialises to, built directly.

The one-second refresh builds a few hundred small elements. As Dash component objects each costs
~25 µs to construct and, because the response then holds objects orjson cannot encode, Dash falls back
to plotly's pure-Python walk over the whole response (tens of ms with the map's GeoJSON in it). As plain
dicts the response is encoded by orjson in one pass. Page layouts keep using dash.html components.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

HTML: str = "dash_html_components"

Element = dict[str, Any]


def el(
    tag: str,
    children: Any = None,
    *,
    cls: str | None = None,
    style: Mapping[str, Any] | None = None,
    id: Any = None,
    data: Mapping[str, str] | None = None,
) -> Element:
    """{"type": tag, "namespace": "dash_html_components", "props": {...}}, e.g. el("Span", "3", cls="x")."""
    props: dict[str, Any] = {}
    if children is not None:
        props["children"] = children
    if id is not None:
        props["id"] = id
    if cls:
        props["className"] = cls
    if style:
        props["style"] = dict(style)
    if data:
        for k, v in data.items():
            props[f"data-{k}"] = v
    return {"props": props, "type": tag, "namespace": HTML}


def span(children: Any = None, cls: str | None = None, style: Mapping[str, Any] | None = None) -> Element:
    """A <span>."""
    return el("Span", children, cls=cls, style=style)


def div(children: Any = None, cls: str | None = None, style: Mapping[str, Any] | None = None) -> Element:
    """A <div>."""
    return el("Div", children, cls=cls, style=style)
