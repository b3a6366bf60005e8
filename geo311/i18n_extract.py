"""Find every text a resident can see, and keep the catalogs in step with them.

Sources: `_("...")` and `msg("...")` calls in the package's Python, `_("...")` in the page
templates (geo311/page_templates.py) and in maps/resident.js, and the data a resident reads: the
category file (names, groups, descriptions, questions and their answers; context "category") and
the district layer titles of the demo manifest (context "layer").

`update()` merges them into each language's geo311/locale/<lang>/LC_MESSAGES/messages.po:
new texts arrive untranslated (English stays on the page until someone translates them, and the
completeness test fails), texts no longer used are dropped, English gets msgstr = msgid.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import yaml
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

from geo311 import i18n, page_templates

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
RESIDENT_JS = ROOT / "maps" / "resident.js"
CATEGORY_FILE = PACKAGE / "data" / "portland" / "categories.yaml"
DEMO_MANIFEST = PACKAGE / "data" / "portland" / "demo.yaml"
AWAITING_REVIEW = "awaiting review by a native speaker"
REVIEW_HEADER = "X-Review-Status"

PY_KEYWORDS = {"_": None, "msg": None, "N_": None, "gettext": None}
# staff-only modules whose `_` is a throwaway name, not a translation
_SKIP = {"i18n.py", "i18n_extract.py", "i18n_cli.py"}

Found = tuple[str, str | None, str]        # (msgid, context, where)


def python_messages(package: Path = PACKAGE) -> Iterator[Found]:
    for path in sorted(package.rglob("*.py")):
        if path.name in _SKIP:
            continue
        # Babel warns about f-strings among a call's arguments (msg("{km} km", km=f"{d:.1f}")): the
        # template is the first argument, a plain string, and the values may be anything
        with contextlib.redirect_stderr(io.StringIO()):
            found = list(extract_from_file("python", path, keywords=PY_KEYWORDS))
        for lineno, message, _comments, context in found:
            if isinstance(message, str) and message:
                yield message, context, f"{_shown(path)}:{lineno}"


def template_messages() -> Iterator[Found]:
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"])
    for name in dir(page_templates):
        source = getattr(page_templates, name)
        if not name.isupper() or not isinstance(source, str):
            continue
        for lineno, _func, message in env.extract_translations(source):
            text = message[0] if isinstance(message, tuple) else message
            if isinstance(text, str) and text:
                yield text, None, f"geo311/page_templates.py:{name}:{lineno}"


def javascript_messages(path: Path | None = None) -> list[str]:
    """The texts of resident.js, in order, once each."""
    return list(dict.fromkeys(m for m, _c, _w in _js_found(path)))


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def _js_found(path: Path | None = None) -> Iterator[Found]:
    path = path or RESIDENT_JS
    for lineno, message, _comments, _context in extract_from_file("javascript", path, keywords={"_": None}):
        if isinstance(message, str) and message:
            yield message, None, f"{_shown(path)}:{lineno}"


def category_messages(path: Path = CATEGORY_FILE) -> Iterator[Found]:
    """Every text of a category file that a resident reads."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    cats = doc.get("categories", doc) if isinstance(doc, dict) else doc
    where = path.name
    for c in cats or []:
        code = c.get("code")
        for key in ("name", "group", "description"):
            if c.get(key):
                yield str(c[key]), i18n.CATEGORY_CONTEXT, f"{where}:{code}.{key}"
        for a in c.get("attributes") or []:
            if a.get("description"):
                yield str(a["description"]), i18n.CATEGORY_CONTEXT, f"{where}:{code}.{a.get('code')}"
            for v in a.get("values") or []:
                if v.get("name"):
                    yield str(v["name"]), i18n.CATEGORY_CONTEXT, f"{where}:{code}.{a.get('code')}.{v.get('key')}"


def layer_messages(path: Path = DEMO_MANIFEST) -> Iterator[Found]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for layer in doc.get("layers") or []:
        if isinstance(layer, dict) and layer.get("title"):
            yield str(layer["title"]), i18n.LAYER_CONTEXT, f"{path.name}:{layer.get('layer')}"


def collect(category_files: list[Path] | None = None) -> Catalog:
    """All texts, as a template catalog (msgid, context, where each was found)."""
    template = Catalog(project="geo311", domain=i18n.DOMAIN, charset="utf-8", fuzzy=False)
    sources = [python_messages(), template_messages(), _js_found(), layer_messages()]
    sources += [category_messages(p) for p in (category_files or [CATEGORY_FILE])]
    for found in sources:
        for message, context, where in found:
            file, _, line = where.rpartition(":")
            prior = template.get(message, context)
            locations = [*(prior.locations if prior else []), (file, int(line) if line.isdigit() else None)]
            template.add(message, context=context, locations=locations,
                         flags=("python-brace-format",) if re.search(r"\{\w+(?:[!:][^}]*)?\}", message) else ())
    return template


def placeholders(text: str) -> set[str]:
    """The `{name}` fields of a text ({name!r}, {n:.1f} count as name)."""
    return set(re.findall(r"\{(\w+)(?:[!:][^}]*)?\}", text))


def review_status(path: Path) -> str | None:
    m = re.search(rf'"{REVIEW_HEADER}: ([^"\\]*)\\n"', path.read_text(encoding="utf-8"))
    return m.group(1) if m else None


def _header_comment(lang: i18n.Language, status: str) -> str:
    return (f"# geo311: the resident pages and replies in {lang.name} ({lang.tag}).\n"
            f"# Review: {status}.\n"
            "# Write for a neighbour reading on a phone: plain words, the same tone as the English,\n"
            "# every {placeholder} kept as it is. Mark the review in X-Review-Status when done.\n"
            "#")


def write_catalog(path: Path, catalog: Catalog, status: str) -> None:
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, omit_header=False, sort_output=False, include_previous=False,
             include_lineno=False)   # file names only: moving code does not churn the catalogs
    text = buf.getvalue().decode("utf-8")
    # Babel keeps only the headers it knows; the review status is ours, written after Generated-By
    text = re.sub(r'("Generated-By: [^"]*\\n"\n)', lambda m: m.group(1) + f'"{REVIEW_HEADER}: {status}\\n"\n',
                  text, count=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _content(catalog: Catalog) -> set:
    return {(m.id, m.context, m.string) for m in catalog if m.id}


def update(category_files: list[Path] | None = None, pot: Path | None = None, say=print) -> dict[str, int]:
    """Merge the texts into every language's .po (and write a .pot for translation tools when
    asked); returns how many texts each language lacks."""
    template = collect(category_files)
    if pot:
        with pot.open("wb") as f:
            write_po(f, template, width=100, sort_output=False, include_previous=False)
    missing: dict[str, int] = {}
    for code, lang in i18n.LANGUAGES.items():
        path = i18n.po_path(code)
        status = AWAITING_REVIEW
        if path.is_file():
            status = review_status(path) or AWAITING_REVIEW
            with path.open("rb") as f:
                catalog = read_po(f, locale=code, domain=i18n.DOMAIN)
        else:
            catalog = Catalog(locale=code, domain=i18n.DOMAIN, project="geo311", charset="utf-8")
        before = _content(catalog)
        dates = (catalog.creation_date, catalog.revision_date)
        catalog.update(copy.deepcopy(template), no_fuzzy_matching=True, update_header_comment=False)
        catalog.obsolete.clear()
        catalog.fuzzy = False
        catalog.project, catalog.version = "geo311", "1"
        if not catalog.last_translator or "FULL NAME" in catalog.last_translator:
            catalog.last_translator = f"draft ({status})"
        catalog.header_comment = _header_comment(lang, status)
        catalog.language_team = f"{lang.name} <{lang.tag}>"
        if code == i18n.DEFAULT:
            for m in catalog:
                if m.id and not m.string:
                    m.string = m.id
        if path.is_file() and _content(catalog) == before:     # nothing new: the file stays as it was
            catalog.creation_date, catalog.revision_date = dates
        else:
            catalog.revision_date = datetime.now(UTC)
        write_catalog(path, catalog, status)
        missing[code] = sum(1 for m in catalog if m.id and (not m.string or m.fuzzy))
        say(f"{code}: {sum(1 for m in catalog if m.id)} messages, {missing[code]} untranslated ({status})")
    i18n.catalog.cache_clear()
    return missing


def problems(category_files: list[Path] | None = None) -> list[str]:
    """What the catalogs lack: untranslated (or fuzzy) texts, and translations whose {placeholders}
    differ from the English, one line each, `lang: "msgid" (where)`."""
    template = collect(category_files)
    out = []
    for code in i18n.LANGUAGES:
        path = i18n.po_path(code)
        if not path.is_file():
            out.append(f"{code}: no catalog at {path.relative_to(ROOT)}")
            continue
        with path.open("rb") as f:
            catalog = read_po(f, locale=code, domain=i18n.DOMAIN)
        if not review_status(path):
            out.append(f"{code}: the catalog does not say who reviewed it ({REVIEW_HEADER})")
        for m in template:
            if not m.id:
                continue
            where = ", ".join(f"{f}:{n}" for f, n in m.locations[:2])
            got = catalog.get(m.id, m.context)
            if got is None or not got.string or got.fuzzy:
                out.append(f'{code}: no translation of {m.id!r}' + (f" [{m.context}]" if m.context else "") + f" ({where})")
            elif placeholders(got.string) != placeholders(m.id):
                out.append(f"{code}: {m.id!r} is translated with placeholders {sorted(placeholders(got.string))}, "
                           f"not {sorted(placeholders(m.id))} ({where})")
    return out
