"""Reading the message catalogues with Babel: a language's gettext .mo file, or its .po compiled in memory.

The .po files under locale/ are the source; `make venv` compiles them to .mo (build output, git-ignored), which is
what a process reads. A .mo that is missing or older than its .po (a fresh checkout, an edited catalogue) is never
read: the .po is compiled in memory instead, exactly as `pybabel compile` would, so nobody sees stale text.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Final

LOCALE_DIR: Final = Path(__file__).resolve().with_name("locale")
DOMAIN: Final = "messages"


def po_path(lang: str, locale_dir: Path = LOCALE_DIR) -> Path:
    """The catalogue a translator edits: locale/<lang>/LC_MESSAGES/messages.po."""
    return locale_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(lang: str, locale_dir: Path = LOCALE_DIR) -> Path:
    """The compiled catalogue beside its .po."""
    return po_path(lang, locale_dir).with_suffix(".mo")


def mo_is_current(lang: str, locale_dir: Path = LOCALE_DIR) -> bool:
    """Whether the .mo exists and is at least as new as its .po."""
    mo, po = mo_path(lang, locale_dir), po_path(lang, locale_dir)
    try:
        return mo.stat().st_mtime >= po.stat().st_mtime
    except FileNotFoundError:
        return False


def compile_po(po: Path) -> bytes:
    """The .mo bytes of a .po, compiled in memory with Babel (fuzzy entries left out, as `pybabel compile` does)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        catalog = read_po(f, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def read_mo(mo: bytes) -> dict[str, str]:
    """The messages of compiled catalogue bytes, by key (Babel's reader: the standard library's gettext lists a
    catalogue's messages nowhere publicly, and a plain dict keeps t() a single lookup)."""
    from babel.messages import mofile

    catalog = mofile.read_mo(io.BytesIO(mo))
    return {m.id: m.string for m in catalog if isinstance(m.id, str) and m.id and isinstance(m.string, str)}


def load(lang: str, locale_dir: Path = LOCALE_DIR) -> dict[str, str]:
    """The messages of `lang`: from its .mo when current, else from its .po compiled in memory."""
    if mo_is_current(lang, locale_dir):
        return read_mo(mo_path(lang, locale_dir).read_bytes())
    return read_mo(compile_po(po_path(lang, locale_dir)))
