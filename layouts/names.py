"""Short display names of places and roads for tight spots on the wall."""

from __future__ import annotations

from functools import cache

from dashboard import geo


def short(name: str) -> str:
    """A name without its parenthesised detail: "长安街（东长安街—建国门内大街）" -> "长安街"."""
    for sep in ("（", " ("):
        if sep in name:
            return name.split(sep, 1)[0].strip()
    return name


@cache
def _subdistricts() -> dict[str, tuple[str, str]]:
    """Subdistrict code -> (short Chinese name, English name)."""
    return {s.code: (s.name_zh.removesuffix("街道"), s.name_en) for s in geo.subdistricts()}


def subdistrict(code: str | None, lang: str) -> str:
    """Short name of a subdistrict code ("东华门" / "Donghuamen"); the code itself when unknown."""
    names = _subdistricts().get(code or "")
    if names is None:
        return code or ""
    return names[1] if lang == "en" else names[0]


def subdistrict_codes() -> list[str]:
    """Every subdistrict code in order."""
    return list(_subdistricts())
