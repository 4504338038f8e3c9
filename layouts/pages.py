"""Simple pages: screens that come in a later release, refusals and not-found, in both languages."""

from __future__ import annotations

from dash import html

from dashboard.i18n import t

PAGE_TITLES = {"/tablet": "page.tablet", "/dispatch": "page.dispatch", "/admin": "page.admin"}


def _both(key: str, lang: str) -> list[html.Div]:
    """The message in the UI language first, then in the other one (said plainly in both)."""
    other = "en" if lang == "zh" else "zh"
    return [
        html.Div(t(key, lang), className="notice-main"),
        html.Div(t(key, other), className="notice-other", lang="en" if other == "en" else "zh-CN"),
    ]


def _frame(title: str, body: list[html.Div], lang: str) -> html.Div:
    """A centred card with a link back to the wall."""
    return html.Div(
        html.Main(
            [
                html.H1(title, className="login-title"),
                *body,
                html.A(t("page.back_to_wall", lang), href="/wall", className="btn btn-primary notice-link"),
            ],
            className="login-card notice-card",
        ),
        className="login-page notice-page",
    )


def coming_next(path: str, lang: str) -> html.Div:
    """"This screen arrives in a later release" for /tablet, /dispatch and /admin."""
    title = t(PAGE_TITLES.get(path, "page.wall"), lang)
    return _frame(title, [*_both("page.coming", lang), *_both("page.coming_detail", lang)], lang)


def forbidden(path: str, lang: str) -> html.Div:
    """The signed-in role may not open this page."""
    return _frame(t(PAGE_TITLES.get(path, "page.wall"), lang), _both("page.forbidden", lang), lang)


def not_found(lang: str) -> html.Div:
    """Unknown path."""
    return _frame(t("page.not_found", lang), _both("page.not_found", lang), lang)
