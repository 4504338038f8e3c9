"""Translations (dashboard.i18n): the gettext catalogues are complete and consistent in both languages, load the
same compiled or not, and the formatting helpers speak each locale."""

from __future__ import annotations

import os
import re
import shutil
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from dashboard import i18n
from dashboard.i18n import catalogues

BRACE_FLAG = "python-brace-format"


def po_catalog(lang: str) -> Catalog:
    """A language's .po as Babel reads it (a malformed file raises)."""
    with catalogues.po_path(lang).open("rb") as f:
        return read_po(f, domain=catalogues.DOMAIN, abort_invalid=True)


def po_messages(lang: str) -> dict[str, str]:
    """The .po's messages by key (the header left out)."""
    return {str(m.id): str(m.string) for m in po_catalog(lang) if m.id}


def fields(text: str) -> set[str]:
    """The str.format fields of a message (a stray brace raises ValueError)."""
    return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}


def raw_entries(lang: str) -> list[tuple[str, set[str]]]:
    """Each msgid of the .po with the flags written above it, read as text: Babel drops python-brace-format from
    a message whose msgid has no braces, and here the msgids are keys."""
    entries: list[tuple[str, set[str]]] = []
    flags: set[str] = set()
    for line in catalogues.po_path(lang).read_text(encoding="utf-8").splitlines():
        if line.startswith("#,"):
            flags |= {f.strip() for f in line[2:].split(",")}
        elif line.startswith("msgid "):
            entries.append((line.removeprefix("msgid ").strip('"'), flags))
            flags = set()
    return entries[1:]  # the header's msgid ""


# --- the catalogues -----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_po_files_parse_with_babel_and_nothing_is_fuzzy_obsolete_or_twice(lang: str) -> None:
    """Each .po is valid for Babel, not fuzzy (`pybabel compile` would skip it), and holds each key once."""
    cat = po_catalog(lang)
    assert str(cat.locale) == lang
    assert not cat.fuzzy
    assert not [m.id for m in cat if m.id and m.fuzzy]
    assert not cat.obsolete
    assert not [(m.id, errors) for m, errors in cat.check()]
    keys = [key for key, _ in raw_entries(lang)]
    assert len(keys) == len(set(keys)), sorted({k for k in keys if keys.count(k) > 1})
    assert all(re.fullmatch(r"[a-z0-9_]+\.[A-Za-z0-9_.-]+", k) for k in keys), keys


def test_every_message_is_in_both_languages() -> None:
    """A message in one language only fails here, naming it."""
    zh, en = set(po_messages("zh")), set(po_messages("en"))
    assert not zh - en, f"only in zh: {sorted(zh - en)}"
    assert not en - zh, f"only in en: {sorted(en - zh)}"
    assert len(zh) > 600


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_no_msgstr_is_empty(lang: str) -> None:
    """An empty msgstr would be left out of the .mo and show the Chinese text (or the key) instead."""
    assert not [k for k, text in po_messages(lang).items() if not text.strip()]


def test_placeholders_are_the_same_in_both_languages() -> None:
    """A placeholder in one language is in the other too (else .format fails in one of them)."""
    zh, en = po_messages("zh"), po_messages("en")
    differ = {k: (fields(zh[k]), fields(en[k])) for k in zh.keys() & en.keys() if fields(zh[k]) != fields(en[k])}
    assert not differ


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_entries_with_placeholders_and_only_they_are_flagged_python_brace_format(lang: str) -> None:
    """Translators' tools check the placeholders of the entries flagged python-brace-format."""
    texts = po_messages(lang)
    wrong = [k for k, flags in raw_entries(lang) if (BRACE_FLAG in flags) != bool(fields(texts[k]))]
    assert not wrong


def test_the_english_catalogue_shows_the_chinese_source() -> None:
    """Each English entry carries the Chinese text as its extracted comment, kept up to date."""
    zh = po_messages("zh")
    stale = {
        str(m.id): m.auto_comments
        for m in po_catalog("en")
        if m.id and " ".join(" ".join(m.auto_comments).split()) != " ".join(zh.get(str(m.id), "").split())
    }
    assert not stale


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_compiled_and_in_memory_catalogues_are_the_same(lang: str, tmp_path: Path) -> None:
    """`pybabel compile` (what `make venv` runs) and the loader's in-memory compile give one catalogue: the one
    the process serves."""
    shutil.copytree(catalogues.LOCALE_DIR, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.mo"))
    assert CommandLineInterface().run(["pybabel", "-q", "compile", "-d", str(tmp_path), "-D", "messages"]) in (0, None)
    compiled = catalogues.read_mo(catalogues.mo_path(lang, tmp_path).read_bytes())
    in_memory = catalogues.read_mo(catalogues.compile_po(catalogues.po_path(lang, tmp_path)))
    assert compiled == in_memory == po_messages(lang) == dict(i18n.catalogue(lang))


def test_the_loader_reads_a_current_mo_and_compiles_a_missing_or_stale_one(tmp_path: Path) -> None:
    """A .mo as new as its .po is read; a missing one, or one older than an edited .po, is not."""
    po, mo = catalogues.po_path("en", tmp_path), catalogues.mo_path("en", tmp_path)
    po.parent.mkdir(parents=True)
    source = catalogues.po_path("en").read_text(encoding="utf-8")
    po.write_text(source.replace('msgstr "Open incidents"', 'msgstr "Compiled text"'), encoding="utf-8")
    mo.write_bytes(catalogues.compile_po(po))
    os.utime(po, (1_000_000, 1_000_000))
    os.utime(mo, (1_000_000, 1_000_000))
    assert catalogues.mo_is_current("en", tmp_path)
    assert catalogues.load("en", tmp_path)["kpi.incidents"] == "Compiled text"

    po.write_text(source.replace('msgstr "Open incidents"', 'msgstr "Edited text"'), encoding="utf-8")
    os.utime(po, (1_000_001, 1_000_001))
    assert not catalogues.mo_is_current("en", tmp_path)
    assert catalogues.load("en", tmp_path)["kpi.incidents"] == "Edited text"

    mo.unlink()
    assert not catalogues.mo_is_current("en", tmp_path)
    assert catalogues.load("en", tmp_path)["kpi.incidents"] == "Edited text"


def test_catalogues_have_the_same_keys() -> None:
    """Chinese and English translate exactly the same keys, none of them empty, as the process loaded them."""
    zh, en = i18n.catalogue("zh"), i18n.catalogue("en")
    assert set(zh) == set(en)
    assert all(v.strip() for v in zh.values())
    assert all(v.strip() for v in en.values())


def test_catalogues_have_the_same_placeholders() -> None:
    """A placeholder in one language is in the other too (else .format fails in one of them)."""
    ph = re.compile(r"\{(\w+)\}")
    zh, en = i18n.catalogue("zh"), i18n.catalogue("en")
    for key in zh:
        assert set(ph.findall(zh[key])) == set(ph.findall(en[key])), key


def test_has_and_catalogue() -> None:
    """The public view of the catalogues: membership, and a read-only mapping a language."""
    assert i18n.has("app.title") and not i18n.has("no.such_key")
    assert i18n.catalogue("en-GB")["app.title"] == i18n.t("app.title", "en") != i18n.t("app.title", "zh")
    assert i18n.catalogue("fr") is i18n.catalogue("zh")
    with pytest.raises(TypeError):
        i18n.catalogue("zh")["app.title"] = "x"  # type: ignore[index]


# --- names and formatting -----------------------------------------------------------------------


def test_severity_and_domain_names() -> None:
    """China's four levels and the coded names, in both languages."""
    assert i18n.severity_name(1, "zh") == "I 特别重大"
    assert i18n.severity_name(4, "zh") == "IV 一般"
    assert i18n.severity_name(2, "en").startswith("II ")
    assert i18n.name("band", "light", "zh") == "轻度拥堵"
    assert i18n.name("state", "silent", "en") == "Silent"
    assert i18n.name("sensor", "water_level", "zh") == "积水水位"
    assert i18n.name("hl_cat", "noise", "zh") == "噪声扰民"
    assert i18n.name("inc_cat", "fire", "en") == "Fire"
    assert i18n.name("band", "unknown-band", "zh") == "unknown-band"


def test_every_overdue_message_says_overdue_in_english() -> None:
    """A Chinese text that says 超时 or 超期 keeps that meaning in English (the wall's legend once lost it)."""
    zh, en = i18n.catalogue("zh"), i18n.catalogue("en")
    overdue = [k for k, v in zh.items() if "超时" in v or "超期" in v]
    assert "legend.overdue_incident" in overdue and "legend.overdue_cell" in overdue
    lost = {k: en[k] for k in overdue if not re.search(r"\bover(due)?\b", en[k], re.IGNORECASE)}
    assert not lost, lost


def test_counts_and_rates_are_grouped_by_thousands_in_both_languages() -> None:
    """17,850.7 and 1,234,567 in zh and en alike; fmt_dec drops the decimals a value does not have."""
    for lang in ("zh", "en"):
        assert i18n.fmt_num(17850.7, lang, 1) == "17,850.7"
        assert i18n.fmt_num(0, lang, 1) == "0.0"
        assert i18n.fmt_int(1234567, lang) == "1,234,567"
        assert i18n.fmt_dec(17850.7, lang) == "17,850.7"
        assert i18n.fmt_dec(1000, lang) == "1,000"
        assert i18n.fmt_dec(-12, lang) == "-12"
        assert i18n.fmt_dec(7.5, lang) == "7.5"
        assert i18n.fmt_dec(1234567.25, lang) == "1,234,567.25"
        assert i18n.fmt_dec(0.0004, lang) == "0"
        assert i18n.fmt_dec(-0.0004, lang) == "0"
        assert i18n.fmt_dec(None, lang) == i18n.fmt_dec(float("nan"), lang) == "—"


def test_formatting() -> None:
    """Numbers, percentages, Beijing time and ages per locale."""
    assert i18n.fmt_int(1234567) == "1,234,567"
    assert i18n.fmt_int(None) == "—"
    assert i18n.fmt_pct(0.9823) == "98.2%"
    assert i18n.fmt_pct(None) == "—"
    assert i18n.fmt_num(5.25, digits=1) in ("5.2", "5.3")
    # The epoch is 08:00 in Beijing.
    assert i18n.fmt_time(0) == "08:00:00"
    assert i18n.fmt_date(0, "zh") == "1970年1月1日 星期四"
    assert i18n.fmt_age(3, "zh") == "3 秒前"
    assert i18n.fmt_age(3, "en") == "3 s ago"
    assert i18n.fmt_age(125, "zh") == "2 分钟前"
    assert i18n.fmt_age(7200, "en") == "2 h ago"
    assert i18n.fmt_duration(65) == "01:05"
    assert i18n.fmt_duration(-3725) == "1:02:05"
    assert i18n.t("inc.more", "zh", n=3) == "另有 3 起"
    assert i18n.t("no.such.key", "en") == "no.such.key"
    assert i18n.norm_lang("en-GB") == "en"
    assert i18n.norm_lang("fr") == "zh"
    assert i18n.norm_lang(None) == "zh"
