"""Short display names of places and roads for tight spots on the wall."""

from __future__ import annotations

from functools import cache
from typing import Final

from dashboard.domain import geo

# Everyday short names for the places and roads whose full names do not fit a KPI card or a list row at
# 1080p (about 9 CJK characters or 19 Latin ones at 18 px): keyed by the name without its parenthesised detail.
SHORT: Final[dict[str, str]] = {
    # roads
    "雍和宫大街—东四北/南大街—东单北大街—崇文门外大街—天坛东路": "雍和宫—天坛东路",
    "North 2nd Ring Road": "North 2nd Ring",
    "East 2nd Ring Road": "East 2nd Ring",
    "South 2nd Ring Road": "South 2nd Ring",
    "Liangguang Rd east section": "Liangguang Rd E",
    "Ping'an Avenue east section": "Ping'an Ave E",
    "Qiansanmen Avenue east section": "Qiansanmen Ave E",
    "N–S corridor along Metro Line 5": "Line 5 corridor",
    # hospitals
    "首都医科大学附属北京中医医院": "北京中医医院",
    "北京中医药大学东直门医院": "东直门医院",
    "北京市鼓楼中医医院": "鼓楼中医医院",
    "Peking Union Medical College Hospital": "PUMC Hospital",
    "Beijing Tongren Hospital": "Tongren Hospital",
    "Beijing Hospital of Traditional Chinese Medicine": "Beijing TCM Hospital",
    "Beijing No.6 Hospital": "No.6 Hospital",
    "Beijing Longfu Hospital": "Longfu Hospital",
    "Beijing Hepingli Hospital": "Hepingli Hospital",
    "Beijing Gulou Hospital of TCM": "Gulou TCM Hospital",
    "Beijing Puren Hospital": "Puren Hospital",
    "Dongzhimen Hospital, Beijing Univ. of Chinese Medicine": "Dongzhimen Hospital",
    # scenic spots, shopping streets and hubs
    "Temple of Heaven Park": "Temple of Heaven",
    "Nanluoguxiang hutong street": "Nanluoguxiang",
    "Confucius Temple & Imperial College Museum": "Confucius Temple",
    "National Museum of China": "National Museum",
    "Working People's Cultural Palace": "Cultural Palace",
    "National Art Museum of China": "National Art Museum",
    "National Natural History Museum": "Nat. History Museum",
    "Beijing Planning Exhibition Hall": "Planning Exhibition",
    "Ming City Wall Relics Park": "Ming City Wall Park",
    "Beijing Ancient Observatory": "Ancient Observatory",
    "Imperial City Wall Relics Park": "Imperial Wall Park",
    "New Culture Movement Memorial": "PKU Red Building",
    "Beijing Police Museum": "Police Museum",
    "Huangshicheng Imperial Archives": "Huangshicheng",
    "Former Duan Qirui Government Site": "Duan Qirui Site",
    "Wangfujing shopping street": "Wangfujing",
    "Qianmen Street commercial area": "Qianmen Street",
    "Longfusi cultural & commercial quarter": "Longfusi",
    "Dongdan commercial area": "Dongdan",
    "Chongwenmen commercial area": "Chongwenmen",
    "Beijing Railway Station": "Beijing Station",
    "Dongzhimen transport hub": "Dongzhimen hub",
}


def short(name: str) -> str:
    """A name for a tight spot: without its parenthesised detail, then its everyday short form if it has one.

    "长安街（东长安街—建国门内大街）" -> "长安街"; "Beijing Tongren Hospital" -> "Tongren Hospital".
    """
    for sep in ("（", " ("):
        if sep in name:
            name = name.split(sep, 1)[0].strip()
            break
    return SHORT.get(name, name)


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
