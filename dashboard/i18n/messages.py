"""The interface's messages in zh and en, loaded once per process from the catalogues (see dashboard.i18n)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from dashboard.i18n.catalogues import load

LANGS: Final = ("zh", "en")
DEFAULT_LANG: Final = "zh"

# Plain dicts, read once at import: t() is on the wall's refresh path and stays one or two dict lookups.
_CATALOGUES: Final[dict[str, dict[str, str]]] = {lang: load(lang) for lang in LANGS}
_ZH: Final = _CATALOGUES[DEFAULT_LANG]
_VIEWS: Final[dict[str, Mapping[str, str]]] = {lang: MappingProxyType(cat) for lang, cat in _CATALOGUES.items()}


def norm_lang(lang: str | None) -> str:
    """A supported language code ("zh" or "en"); anything else falls back to Chinese."""
    if not lang:
        return DEFAULT_LANG
    code = lang.lower().split("-")[0].split("_")[0]
    return code if code in _CATALOGUES else DEFAULT_LANG


def t(key: str, lang: str | None = DEFAULT_LANG, **params: object) -> str:
    """Translate `key` into `lang`, filling `{name}` placeholders; an unknown key shows itself."""
    cat = _CATALOGUES.get(lang or DEFAULT_LANG) or _CATALOGUES[norm_lang(lang)]
    text = cat.get(key) or _ZH.get(key) or key
    return text.format(**params) if params else text


def has(key: str) -> bool:
    """Whether the catalogues hold `key` (both languages hold the same keys: a test checks it)."""
    return key in _ZH


def catalogue(lang: str | None) -> Mapping[str, str]:
    """Every message of `lang` by key, read-only."""
    return _VIEWS[norm_lang(lang)]


def name(group: str, code: object, lang: str) -> str:
    """The display name of a coded value, e.g. name("band", "light", "zh") -> "轻度拥堵"."""
    key = f"{group}.{code}"
    cat = _CATALOGUES.get(lang) or _ZH
    return cat.get(key) or str(code)


def severity_name(sev: int, lang: str) -> str:
    """"I 特别重大" … "IV 一般"."""
    return name("sev", sev, lang)


def js_strings(lang: str) -> dict[str, str]:
    """The templates the browser needs to render ages and deadlines itself (no server round trip)."""
    keys = (
        "fresh.ago_s",
        "fresh.ago_m",
        "fresh.ago_h",
        "fresh.none",
        "fresh.down",
        "fresh.stale_label",
        "fresh.live",
        "inc.due_in",
        "inc.overdue",
    )
    return {k: t(k, lang) for k in keys} | {"lang": lang}
