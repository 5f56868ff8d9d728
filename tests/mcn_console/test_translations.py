"""The Simplified Chinese catalogue: complete, compiled, and loaded by Django.

The .mo is committed beside the .po because a fresh machine may lack GNU gettext, so these
tests catch a .po edited without re-running `compilemessages`.
"""

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils.translation import gettext, override

CATALOGUE = Path(settings.LOCALE_PATHS[0]) / "zh_Hans" / "LC_MESSAGES"

# %(name)s and %s for python-format; {name} for str.format and JS-style templates.
PLACEHOLDER = re.compile(r"%\(\w+\)[a-z]|%[a-z]|\{\w*\}")


def _po() -> polib.POFile:
    return polib.pofile(str(CATALOGUE / "django.po"))


def _mo() -> polib.MOFile:
    return polib.mofile(str(CATALOGUE / "django.mo"))


def _placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def test_the_compiled_catalogue_matches_the_po_file():
    po, mo = _po(), _mo()

    po_messages = {(e.msgctxt, e.msgid): e.msgstr for e in po.translated_entries()}
    mo_messages = {(e.msgctxt, e.msgid): e.msgstr for e in mo}

    assert mo_messages == po_messages
    assert {e.msgid for e in mo} == {e.msgid for e in po if not e.obsolete}


def test_every_message_is_translated_and_none_is_fuzzy():
    po = _po()

    untranslated = [e.msgid for e in po.untranslated_entries()]
    fuzzy = [e.msgid for e in po.fuzzy_entries()]

    assert untranslated == []
    assert fuzzy == []
    assert not po.metadata_is_fuzzy
    assert po.metadata["Language"] == "zh_Hans"


def test_translations_keep_every_placeholder_of_the_english_text():
    po = _po()

    in_english = {e.msgid: _placeholders(e.msgid) for e in po.translated_entries()}
    # Chinese has one plural form: a plural entry's translation is its msgstr[0].
    in_chinese = {
        e.msgid: _placeholders(e.msgstr_plural[0] if e.msgid_plural else e.msgstr)
        for e in po.translated_entries()
    }

    assert in_chinese == in_english
    assert in_english["Cannot move a stream from %(from)s to %(to)s."] == ["%(from)s", "%(to)s"]


@pytest.mark.parametrize(
    ("english", "chinese"),
    [("Live now", "正在直播"), ("Sign in", "登录"), ("Sign out", "退出登录")],
)
def test_django_serves_the_chinese_catalogue(english, chinese):
    with override("zh-hans"):
        translated = gettext(english)

    assert translated == chinese
