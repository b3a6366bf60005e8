"""Languages: choosing one, the catalogs (complete, reviewed or marked for review), the resident pages
in every language, and error replies in the reader's language. No database here."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from babel.messages.pofile import read_po
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from geo311 import i18n, i18n_extract, pages
from geo311.api.errors import install_error_handlers
from geo311.errors import InvalidInput, Msg, NotFound, join, msg
from tests.test_pages import EVENTS, FEATURE, client, config_of, report, resident  # noqa: F401

LANGS = list(i18n.LANGUAGES)


def translation(code: str, msgid: str, context: str | None = None) -> str:
    text = i18n.catalog(code).get((context, msgid))
    assert text, f"{code} has no translation of {msgid!r}"
    return text


# ---- choosing the language ------------------------------------------------------------------

@pytest.mark.parametrize(("lang", "cookie", "accept", "want"), [
    (None, None, None, "en"),
    ("es", "vi", "ru", "es"),                          # the parameter first
    (None, "vi", "ru", "vi"),                          # then the picker's cookie
    (None, None, "fr-FR, ru;q=0.8, en;q=0.5", "ru"),   # then the best supported Accept-Language
    (None, None, "de, es-MX;q=0.9", "es"),
    (None, None, "en;q=0.1, so;q=0.9", "so"),
    (None, None, "zh-TW", "zh_Hant"), (None, None, "zh-HK", "zh_Hant"), (None, None, "zh-Hant-TW", "zh_Hant"),
    (None, None, "zh-CN", "zh_Hans"), (None, None, "zh", "zh_Hans"),
    ("zh-hant", None, None, "zh_Hant"), ("ZH_Hans", None, None, "zh_Hans"),
    ("xx", "yy", "ar-EG", "ar"),                       # unknown choices are passed over
    (None, None, "fr, *;q=0.5", "en"),
    (None, None, "es;q=0, vi", "vi"),                  # q=0: not this one
    (None, None, "garbage;;q=x,,", "en"),
])
def test_negotiate(lang, cookie, accept, want):
    assert i18n.negotiate(lang, cookie, accept) == want


def test_languages_are_the_ones_portland_needs():
    assert set(i18n.LANGUAGES) == {"en", "es", "vi", "zh_Hans", "zh_Hant", "ru", "uk", "so", "ar", "ja"}
    assert [c for c, lang in i18n.LANGUAGES.items() if lang.rtl] == ["ar"]


def test_missing_translation_is_english_never_a_key(monkeypatch):
    tr = i18n.Translator("es")
    assert tr.gettext("A text nobody translated, {n}", n=3) == "A text nobody translated, 3"
    # a translation whose placeholder was broken falls back to the English, filled in
    monkeypatch.setitem(tr._catalog, (None, "Report {id}: {category}"), "Reporte {identificador}")
    assert tr.gettext("Report {id}: {category}", id=4, category="X") == "Report 4: X"
    assert i18n.Translator("tlh").code == "en"


def test_dates_and_numbers_follow_the_locale():
    from datetime import datetime, timedelta, timezone

    dt = datetime(2025, 5, 2, 11, 30, tzinfo=timezone(timedelta(hours=-7)))
    assert i18n.Translator("en").datetime(dt) == "May 2, 2025, 11:30\u202fAM (GMT-07:00)"
    assert "mayo" in i18n.Translator("es").datetime(dt) or "may" in i18n.Translator("es").datetime(dt)
    assert i18n.Translator("ja").datetime(dt).startswith("2025/05/02")
    assert i18n.Translator("ru").number(2.5) == "2,5" and i18n.Translator("en").number(1234.5) == "1,234.5"


# ---- messages with their template ---------------------------------------------------------

def test_msg_is_english_text_that_can_be_translated():
    m = msg("report {report_id} is {status}", report_id=7, status=msg("resolved"))
    assert m == "report 7 is resolved" and isinstance(m, str)
    joined = join("; ", [m, "plain text", msg("no extra questions")])
    assert joined == "report 7 is resolved; plain text; no extra questions"
    loud = joined.translate(lambda t, c: t.upper() if "{" not in t else t.replace("is", "IS"))
    assert loud == "report 7 IS RESOLVED; plain text; NO EXTRA QUESTIONS"
    assert Msg.category("Campsite").translate(i18n.Translator("es").lookup) == "Campamento"


# ---- the catalogs ---------------------------------------------------------------------------

def test_every_resident_text_is_translated_in_every_catalog():
    """The completeness check (also `geo311 i18n check`): every text found in the code, the page
    templates, resident.js and the category file has a translation, with the same placeholders."""
    assert i18n_extract.problems() == []


def test_the_check_fails_on_a_new_text_and_on_a_missing_translation(tmp_path, monkeypatch):
    js = tmp_path / "resident.js"
    js.write_text(i18n_extract.RESIDENT_JS.read_text(encoding="utf-8") + '\n_("A brand new text");\n')
    monkeypatch.setattr(i18n_extract, "RESIDENT_JS", js)
    found = i18n_extract.problems()
    assert {line.split(":")[0] for line in found if "A brand new text" in line} == set(LANGS)

    monkeypatch.undo()
    locale = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, locale)
    po = locale / "vi" / "LC_MESSAGES" / "messages.po"
    text = po.read_text(encoding="utf-8")
    po.write_text(re.sub(r'(msgid "Send report"\nmsgstr )"[^"]*"', r'\1""', text), encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", locale)
    found = i18n_extract.problems()
    assert len(found) == 1 and found[0].startswith("vi: no translation of 'Send report' (geo311/page_templates.py")


@pytest.mark.parametrize("code", LANGS)
def test_each_catalog_says_who_reviewed_it(code):
    path = i18n.po_path(code)
    status = i18n_extract.review_status(path)
    assert status and ("review" in status)
    with path.open("rb") as f:
        cat = read_po(f, locale=code)
    assert cat.locale_identifier == code
    assert "Review:" in path.read_text(encoding="utf-8").split("msgid", 1)[0]


def test_category_texts_come_from_the_category_file():
    found = {(c, m) for m, c, _w in i18n_extract.category_messages()}
    assert (i18n.CATEGORY_CONTEXT, "Campsite") in found
    assert (i18n.CATEGORY_CONTEXT, "How many tents or structures?") in found
    assert (i18n.CATEGORY_CONTEXT, "Needles or sharps") in found
    assert translation("es", "Campsite", i18n.CATEGORY_CONTEXT) == "Campamento"
    assert translation("vi", "Campsite", i18n.CATEGORY_CONTEXT) == "Nơi cắm trại"


# ---- the pages in every language --------------------------------------------------------------

@pytest.mark.parametrize("code", LANGS)
def test_each_language_renders_the_resident_page(code):
    html = resident(lang=code)
    lang = i18n.LANGUAGES[code]
    assert f'<html lang="{lang.tag}" dir="{"rtl" if lang.rtl else "ltr"}">' in html
    for msgid in ("Send report", "Report a problem", "Where", "Latitude", "Move the pin"):
        assert translation(code, msgid) in html, msgid
    assert f"<title>{translation(code, 'Report a problem')} · geo311</title>" in html
    cfg = config_of(html)
    assert cfg["lang"] == code and cfg["lang_tag"] == lang.tag
    # the script's texts come with the page: every one of them, except in English
    js = set(pages.script_msgids())
    assert "Pin moved {distance} north." in js
    if code == "en":
        assert cfg["messages"] == {}
    else:
        assert cfg["messages"]["Sending your report…"] == translation(code, "Sending your report…")
        assert len(cfg["messages"]) >= len(js) - 15     # a few (KB, {n} m ...) read the same


@pytest.mark.parametrize("code", LANGS)
def test_each_language_renders_the_report_page(code):
    html = report(lang=code)
    lang = i18n.LANGUAGES[code]
    assert f'<html lang="{lang.tag}" dir="{"rtl" if lang.rtl else "ltr"}">' in html
    for msgid in ("History", "Status", "Description"):
        assert translation(code, msgid) in html, msgid
    assert translation(code, "in progress") in html            # the status, in words of the language
    assert json.dumps(translation(code, "Zoom in")) in html    # Leaflet's buttons too (in the map's script)


def test_arabic_is_right_to_left_and_the_map_stays_left_to_right():
    html = resident(lang="ar")
    assert '<html lang="ar" dir="rtl">' in html and "إرسال البلاغ" in html
    css = (pages.MAPS_DIR / "geo311.css").read_text(encoding="utf-8")
    assert '[dir="rtl"] .leaflet-container { direction: ltr; }' in css


def test_category_names_and_questions_are_translated_on_the_page():
    cats = [{"code": "campsite", "name": "Campsite", "description": "A tent, tarp or structure where someone is "
             "living outdoors.", "group": "Homelessness and camping", "dedup_radius_m": 50,
             "attributes": [{"code": "blocking", "description": "Does it block a sidewalk, path or entrance?",
                             "datatype": "singlevaluelist", "values": [{"key": "yes", "name": "Yes"}]}]},
            {"code": "custom", "name": "Something only this city has", "attributes": []}]
    html = pages.resident_page(categories=cats, lang="es")
    assert '<option value="campsite">Campamento</option>' in html
    assert 'label="Personas sin hogar y campamentos"' in html
    assert "Something only this city has" in html                     # not in a catalog: English
    camp = config_of(html)["categories"][0]
    assert camp["attributes"][0]["description"] == "¿Bloquea una acera, un sendero o una entrada?"
    assert camp["attributes"][0]["values"] == [{"key": "yes", "name": "Sí"}]


def test_both_pages_have_a_labelled_language_picker():
    for html in (resident(lang="vi"), report(lang="vi"), pages.message_page("x", "y", lang="vi")):
        assert '<label for="g311-lang">Ngôn ngữ <span lang="en">(Language)</span></label>' in html
        options = re.findall(r'<option value="([^"]+)" lang="([^"]+)"[^>]*>([^<]+)</option>',
                             html.split('id="g311-lang"', 1)[1].split("</select>", 1)[0])
        assert [o[0] for o in options] == LANGS
        assert ("ar", "ar", "العربية") in options and ("vi", "vi", "Tiếng Việt") in options
        assert re.search(r'<option value="vi" lang="vi" selected>', html)


def test_router_picks_the_language_and_remembers_the_choice(client):  # noqa: F811
    res = client.get("/", headers={"Accept-Language": "vi-VN,vi;q=0.9"})
    assert '<html lang="vi" dir="ltr">' in res.text and res.headers["content-language"] == "vi"
    assert "set-cookie" not in res.headers                      # nothing chosen, nothing remembered

    res = client.get("/?lang=ar")
    assert '<html lang="ar" dir="rtl">' in res.text
    assert "geo311_lang=ar" in res.headers["set-cookie"] and "SameSite=lax" in res.headers["set-cookie"]
    assert "Accept-Language" in res.headers["vary"]

    client.cookies.set(i18n.COOKIE, "ar")
    res = client.get("/reports/12", headers={"Accept-Language": "es"})
    assert '<html lang="ar" dir="rtl">' in res.text             # the cookie beats Accept-Language
    res = client.get("/reports/12?lang=es", headers={"Accept-Language": "ru"})
    assert '<html lang="es" dir="ltr">' in res.text and "Historial" in res.text

    res = client.get("/reports/13?lang=ja")
    assert res.status_code == 404 and "通報が見つかりません" in res.text and '<html lang="ja"' in res.text


# ---- refusals in the reader's language ------------------------------------------------------------

class Body(BaseModel):
    category: str


@pytest.fixture
def api():
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/missing/{rid}")
    def missing(rid: int):
        raise NotFound(msg("report {report_id} does not exist", report_id=rid))

    @app.get("/staff")
    def staff():
        raise InvalidInput("a staff message that stays English")

    @app.post("/body")
    def body(b: Body):
        return {}

    @app.get("/problems")
    def problems():
        lines = [msg("{where}: at most {limit} characters", where="attributes.note", limit=500)]
        raise InvalidInput(join("; ", lines), code="bad_attributes", details=lines)

    return TestClient(app)


@pytest.mark.parametrize(("how", "code", "want"), [
    ({"headers": {"Accept-Language": "es-US,es;q=0.9"}}, "es", "el reporte 9 no existe"),
    ({"params": {"lang": "vi"}}, "vi", "báo cáo 9 không tồn tại"),
    ({"params": {"lang": "zh-Hant"}}, "zh-Hant", "報告 9 不存在"),
    ({"headers": {"Accept-Language": "ar"}}, "ar", "البلاغ 9 غير موجود"),
    ({"cookies": {"geo311_lang": "ja"}}, "ja", "通報 9 は存在しません"),
])
def test_refusals_come_back_in_the_requested_language(api, how, code, want):
    cookies = how.pop("cookies", None)
    if cookies:
        api.cookies.update(cookies)
    res = api.get("/missing/9", **how)
    assert res.status_code == 404
    err = res.json()["error"]
    assert err == {"code": "not_found", "message": want, "lang": code}
    assert res.headers["content-language"] == code


def test_english_refusals_are_as_they_were(api):
    res = api.get("/missing/9")
    assert res.json() == {"error": {"code": "not_found", "message": "report 9 does not exist"}}
    res = api.get("/staff", params={"lang": "es"})
    assert res.json()["error"]["message"] == "a staff message that stays English"


def test_problem_lists_and_validation_errors_are_translated(api):
    res = api.get("/problems", params={"lang": "es"})
    assert res.json()["error"]["message"] == "attributes.note: 500 caracteres como máximo"
    assert res.json()["error"]["details"] == ["attributes.note: 500 caracteres como máximo"]
    res = api.post("/body", json={}, params={"lang": "es"})
    assert res.status_code == 422 and res.json()["error"]["message"] == "category: obligatorio"
    res = api.post("/body", json={})
    assert res.json()["error"]["message"] == "category: Field required"


def test_every_language_has_every_refusal_of_the_intake():
    for code in LANGS:
        assert translation(code, "report {report_id} does not exist")
        assert translation(code, "Field required")
