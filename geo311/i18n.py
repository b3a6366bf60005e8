"""Languages of the resident pages and replies: which ones, how a request picks one, and the
translations (gettext catalogs in geo311/locale/<lang>/LC_MESSAGES/messages.po, read with Babel).

The catalogs are read as .po files (no compiled .mo to keep in step). A message missing from a
catalog, empty or marked fuzzy falls back to its English msgid: a reader sees English, never a key.
Placeholders are named, `{name}`, in every language (str.format here, the same rule in resident.js).
Category texts come from the category file and carry the context "category" (see i18n_extract.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, dates, numbers
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
DEFAULT = "en"
COOKIE = "geo311_lang"
CATEGORY_CONTEXT = "category"   # names, descriptions, questions and answers from the category file
LAYER_CONTEXT = "layer"         # district layer titles from the demo manifest


@dataclass(frozen=True)
class Language:
    code: str       # the catalog's folder and Babel's locale name: zh_Hans
    tag: str        # BCP 47, for <html lang> and Content-Language: zh-Hans
    name: str       # in the language itself, for the picker
    rtl: bool = False


LANGUAGES: dict[str, Language] = {lang.code: lang for lang in (
    Language("en", "en", "English"),
    Language("es", "es", "Español"),
    Language("vi", "vi", "Tiếng Việt"),
    Language("zh_Hans", "zh-Hans", "简体中文"),
    Language("zh_Hant", "zh-Hant", "繁體中文"),
    Language("ru", "ru", "Русский"),
    Language("uk", "uk", "Українська"),
    Language("so", "so", "Soomaali"),
    Language("ar", "ar", "العربية", rtl=True),
    Language("ja", "ja", "日本語"),
)}

# region and script subtags that say which written Chinese a reader wants
_CHINESE = {"hans": "zh_Hans", "cn": "zh_Hans", "sg": "zh_Hans", "my": "zh_Hans",
            "hant": "zh_Hant", "tw": "zh_Hant", "hk": "zh_Hant", "mo": "zh_Hant"}


def match(value: str | None) -> str | None:
    """A language tag as people write it (es, es-MX, zh-TW, zh_Hant, ZH-hans) -> our code, or None."""
    if not value:
        return None
    parts = value.strip().replace("_", "-").lower().split("-")
    if not parts[0] or len(value) > 35:
        return None
    if parts[0] == "zh":
        for sub in parts[1:]:
            if sub in _CHINESE:
                return _CHINESE[sub]
        return "zh_Hans"
    return parts[0] if parts[0] in LANGUAGES else None


def parse_accept_language(header: str | None) -> list[str]:
    """Accept-Language's tags, best first (RFC 9110 q-values; q=0 means "not this one")."""
    ranked = []
    for i, item in enumerate((header or "").split(",")[:32]):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        if tag and q > 0:
            ranked.append((-q, i, tag.strip()))
    return [tag for _q, _i, tag in sorted(ranked)]


def negotiate(lang: str | None = None, cookie: str | None = None, accept_language: str | None = None) -> str:
    """The language of a reply: the `lang` parameter, else the picker's cookie, else the best
    supported Accept-Language, else English."""
    for choice in (lang, cookie):
        code = match(choice)
        if code:
            return code
    for tag in parse_accept_language(accept_language):
        if tag == "*":
            break
        code = match(tag)
        if code:
            return code
    return DEFAULT


def po_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def catalog(code: str) -> Mapping[tuple[str | None, str], str]:
    """{(context, msgid): translation} of one language: only entries that are translated and not fuzzy."""
    path = po_path(code)
    if code not in LANGUAGES or not path.is_file():
        return {}
    with path.open("rb") as f:
        cat = read_po(f, locale=code, domain=DOMAIN)
    out = {}
    for m in cat:
        if not m.id or m.fuzzy or isinstance(m.id, tuple):
            continue
        if isinstance(m.string, str) and m.string.strip():
            out[(m.context, m.id)] = m.string
    return out


def _fill(text: str, params: Mapping[str, Any]) -> str:
    if not params:
        return text
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        return text


class Translator:
    """One reader's language: translated text, and dates and numbers written their way."""

    def __init__(self, code: str = DEFAULT) -> None:
        self.language = LANGUAGES.get(code) or LANGUAGES[DEFAULT]
        self.code = self.language.code
        self.locale = Locale.parse(self.code)
        self._catalog = catalog(self.code)

    @property
    def tag(self) -> str:
        return self.language.tag

    @property
    def dir(self) -> str:
        return "rtl" if self.language.rtl else "ltr"

    def lookup(self, msgid: str, context: str | None = None) -> str:
        return self._catalog.get((context, msgid)) or msgid

    def gettext(self, msgid: str, /, **params: Any) -> str:
        """The translation of `msgid` (English if there is none), its `{placeholders}` filled in."""
        text = self.lookup(msgid)
        if not params:
            return text
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):   # a translation with a broken placeholder
            return _fill(msgid, params)

    __call__ = gettext

    def category_text(self, text: str | None) -> str:
        """A text from the category file (a name, a description, a question) in this language."""
        return self.lookup(text, CATEGORY_CONTEXT) if text else (text or "")

    def messages(self, msgids: Iterable[str]) -> dict[str, str]:
        """{msgid: translation} of the ones that differ from English (for the page's script)."""
        return {m: t for m in msgids if (t := self.lookup(m)) != m}

    def number(self, value: float, digits: int = 1) -> str:
        return numbers.format_decimal(round(value, digits), locale=self.locale)

    def datetime(self, dt: datetime) -> str:
        """A date and time as this locale writes it, at the time's own offset, with the offset shown."""
        date_s = dates.format_date(dt, "medium", locale=self.locale)
        if dt.tzinfo is None:
            time_s = dates.format_time(dt, "short", locale=self.locale)
            return self.locale.datetime_formats["medium"].format(time_s, date_s)
        time_s = dates.format_time(dt, "short", tzinfo=dt.tzinfo, locale=self.locale)
        both = self.locale.datetime_formats["medium"].format(time_s, date_s)
        return f"{both} ({dates.get_timezone_gmt(dt, 'long', locale=self.locale)})"


def translator(code: str | None) -> Translator:
    return Translator(match(code) or DEFAULT)


def pick(params: Mapping[str, str], cookies: Mapping[str, str], headers: Mapping[str, str]) -> str:
    """negotiate() from a request's query parameters, cookies and headers."""
    return negotiate(params.get("lang"), cookies.get(COOKIE), headers.get("accept-language"))
