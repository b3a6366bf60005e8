"""Report categories: load them from a YAML or JSON file, list them.

A category file is the whole set a city offers: loading it upserts each category by code, replaces
its routes (which agency serves it in which jurisdiction), and marks categories the file no longer
names inactive (reports keep pointing at them). One transaction; a file with any problem loads
nothing and every problem is listed.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from geo311.errors import InvalidInput, msg
from geo311.models import Category, CategoryRoute, Jurisdiction

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")


class CategoryFileError(InvalidInput):
    code = "bad_category_file"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AttributeValue(_Strict):
    key: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)


class AttributeDef(_Strict):
    """An extra question asked with a report, in Open311 service-definition terms."""

    code: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=64)
    description: str = Field(min_length=1, max_length=500)
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"] = "string"
    required: bool = False
    variable: bool = True
    datatype_description: str = ""
    order: int | None = None
    values: list[AttributeValue] = Field(default_factory=list)

    @model_validator(mode="after")
    def _lists_have_values(self) -> AttributeDef:
        if self.datatype.endswith("valuelist") and not self.values:
            raise ValueError(f"attribute {self.code!r} is a {self.datatype} and needs `values`")
        if not self.datatype.endswith("valuelist") and self.values:
            raise ValueError(f"attribute {self.code!r} is a {self.datatype}; only list types take `values`")
        return self


class Route(_Strict):
    jurisdiction: str = Field(min_length=1)
    agency: str = Field(min_length=1, max_length=200)


class Dedup(_Strict):
    radius_m: Annotated[float, Field(ge=0, le=1000, description="merge within this many metres")]
    window_days: Annotated[float, Field(gt=0, le=3650, description="merge into reports this recent")]


class CategorySpec(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    group: str | None = None
    keywords: list[str] = Field(default_factory=list)
    dedup: Dedup
    priority: int = Field(ge=1, le=5, description="1 lowest .. 5 most urgent")
    target_days: int = Field(gt=0, le=3650)
    active: bool = True
    routes: list[Route] = Field(min_length=1)
    attributes: list[AttributeDef] = Field(default_factory=list)

    @field_validator("routes")
    @classmethod
    def _one_route_per_jurisdiction(cls, routes: list[Route]) -> list[Route]:
        seen = [r.jurisdiction for r in routes]
        dup = {j for j in seen if seen.count(j) > 1}
        if dup:
            raise ValueError(f"more than one route for {', '.join(sorted(dup))}")
        return routes

    @field_validator("attributes")
    @classmethod
    def _unique_attribute_codes(cls, attrs: list[AttributeDef]) -> list[AttributeDef]:
        codes = [a.code for a in attrs]
        dup = {c for c in codes if codes.count(c) > 1}
        if dup:
            raise ValueError(f"attribute codes repeat: {', '.join(sorted(dup))}")
        return attrs


class CategoryFile(_Strict):
    categories: list[CategorySpec] = Field(min_length=1)

    @field_validator("categories")
    @classmethod
    def _unique_codes(cls, cats: list[CategorySpec]) -> list[CategorySpec]:
        codes = [c.code for c in cats]
        dup = {c for c in codes if codes.count(c) > 1}
        if dup:
            raise ValueError(f"category codes repeat: {', '.join(sorted(dup))}")
        return cats


def _problems(exc: ValidationError, doc: Any) -> list[str]:
    """Turn pydantic's errors into lines that name the category and field, e.g. `pothole.dedup.radius_m`."""
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = []
        if len(loc) >= 2 and loc[0] == "categories" and isinstance(loc[1], int):
            try:
                where.append(str(doc["categories"][loc[1]].get("code") or f"category #{loc[1] + 1}"))
            except (KeyError, IndexError, TypeError, AttributeError):
                where.append(f"category #{loc[1] + 1}")
            loc = loc[2:]
        where += [str(p) for p in loc]
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{'.'.join(where) or 'file'}: {msg}")
    return lines


def read_category_file(path: str | Path) -> CategoryFile:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CategoryFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        doc = orjson.loads(raw) if path.suffix.lower() == ".json" else yaml.safe_load(raw)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise CategoryFileError(f"{path.name} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from exc
    if isinstance(doc, list):
        doc = {"categories": doc}
    if not isinstance(doc, dict):
        raise CategoryFileError(f"{path.name} must hold a `categories:` list")
    try:
        return CategoryFile.model_validate(doc)
    except ValidationError as exc:
        problems = _problems(exc, doc)
        raise CategoryFileError(f"{path.name} has {len(problems)} problem(s):\n  " + "\n  ".join(problems),
                                details=problems) from exc


def load_categories(session: Session, path: str | Path) -> dict[str, int]:
    """Upsert the file's categories and their routes; deactivate the ones it leaves out."""
    spec = read_category_file(path)
    try:
        jurisdictions = {n: i for n, i in session.execute(select(Jurisdiction.name, Jurisdiction.id))}
        missing = sorted({r.jurisdiction for c in spec.categories for r in c.routes} - set(jurisdictions))
        if missing:
            known = ", ".join(sorted(jurisdictions)) or "none yet: load boundaries first"
            raise CategoryFileError(
                f"{Path(path).name} routes to jurisdictions that are not loaded: {', '.join(missing)} "
                f"(loaded: {known})")
        existing = {c.code: c for c in session.scalars(select(Category))}
        counts = {"created": 0, "updated": 0, "deactivated": 0, "routes": 0}
        for c in spec.categories:
            values = dict(
                name=c.name, description=c.description, group=c.group, keywords=c.keywords,
                dedup_radius_m=c.dedup.radius_m, dedup_window=timedelta(days=c.dedup.window_days),
                default_priority=c.priority, target_days=c.target_days, active=c.active,
                attributes=[a.model_dump() | {"order": a.order or i + 1} for i, a in enumerate(c.attributes)],
            )
            row = existing.get(c.code)
            if row is None:
                row = Category(code=c.code, **values)
                session.add(row)
                session.flush()
                counts["created"] += 1
            else:
                for key, value in values.items():
                    setattr(row, key, value)
                row.updated_at = func.now()
                session.execute(delete(CategoryRoute).where(CategoryRoute.category_id == row.id))
                counts["updated"] += 1
            session.add_all(CategoryRoute(category_id=row.id, jurisdiction_id=jurisdictions[r.jurisdiction],
                                          agency=r.agency) for r in c.routes)
            counts["routes"] += len(c.routes)
        named = {c.code for c in spec.categories}
        for code, row in existing.items():
            if code not in named and row.active:
                row.active = False
                counts["deactivated"] += 1
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return counts


def list_categories(session: Session, active_only: bool = False) -> list[dict[str, Any]]:
    """Categories with their routes, as plain dicts (the API and CLI share this)."""
    rows = session.execute(text(
        "SELECT c.code, c.name, c.description, c.\"group\", c.keywords, c.dedup_radius_m, "
        "  extract(epoch FROM c.dedup_window) / 86400 AS dedup_window_days, c.default_priority AS priority, "
        "  c.target_days, c.active, c.attributes, "
        "  coalesce(json_agg(json_build_object('jurisdiction', j.name, 'agency', r.agency) "
        "    ORDER BY j.rank DESC, j.name) FILTER (WHERE r.id IS NOT NULL), '[]') AS routes "
        "FROM categories c LEFT JOIN category_routes r ON r.category_id = c.id "
        "LEFT JOIN jurisdictions j ON j.id = r.jurisdiction_id "
        "WHERE c.active OR NOT :active_only GROUP BY c.id ORDER BY c.\"group\" NULLS LAST, c.name"),
        {"active_only": active_only}).mappings().all()
    return [dict(r) | {"dedup_window_days": float(r["dedup_window_days"])} for r in rows]



def category_ids(session: Session, codes: list[str] | None) -> list[int] | None:
    """Category codes -> ids; an unknown code is a clear 422."""
    if not codes:
        return None
    found = {c: i for c, i in session.execute(text("SELECT code, id FROM categories WHERE code = ANY(:c)"), {"c": codes})}
    unknown = [c for c in codes if c not in found]
    if unknown:
        raise InvalidInput(msg("unknown category {codes}", codes=", ".join(unknown)), code="bad_category")
    return [found[c] for c in codes]


def check_attributes(definitions: list[dict[str, Any]], answers: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Check a submission's attribute answers against the category's definitions.

    Returns the normalised answers and the problems (empty when all is well): unknown codes,
    missing required answers, values of the wrong type or not among a list's keys."""
    from datetime import datetime

    by_code = {d["code"]: d for d in definitions}
    clean: dict[str, Any] = {}
    problems: list[str] = []
    for code in answers:
        if code not in by_code:
            asks = ", ".join(by_code) or msg("no extra questions")
            problems.append(msg("attributes.{code}: not a question of this category (it asks: {asks})", code=code, asks=asks))
    for code, d in by_code.items():
        value = answers.get(code)
        if value is None or value == "" or value == []:
            if d.get("required"):
                problems.append(msg("attributes.{code}: required ({question})", code=code,
                                    question=msg.category(d["description"])))
            continue
        kind = d.get("datatype", "string")
        keys = [v["key"] for v in d.get("values", [])]
        where = f"attributes.{code}"
        if kind == "number":
            try:
                number = float(value) if not isinstance(value, bool) else None
            except (TypeError, ValueError):
                number = None
            if number is None or number != number or number in (float("inf"), float("-inf")):
                problems.append(msg("{where}: must be a number, got {value!r}", where=where, value=value))
                continue
            clean[code] = int(number) if number.is_integer() else number
        elif kind == "datetime":
            try:
                clean[code] = datetime.fromisoformat(str(value)).isoformat()
            except ValueError:
                problems.append(msg("{where}: must be an ISO 8601 date and time, got {value!r}", where=where, value=value))
        elif kind == "singlevaluelist":
            if str(value) not in keys:
                problems.append(msg("{where}: must be one of {keys}, got {value!r}", where=where, keys=", ".join(keys),
                                    value=value))
            else:
                clean[code] = str(value)
        elif kind == "multivaluelist":
            values = [str(v) for v in (value if isinstance(value, list) else [value])]
            bad = [v for v in values if v not in keys]
            if bad:
                problems.append(msg("{where}: {bad} not among {keys}", where=where, bad=", ".join(map(repr, bad)),
                                    keys=", ".join(keys)))
            else:
                clean[code] = values
        else:  # string, text
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                problems.append(msg("{where}: must be text, got {kind}", where=where, kind=type(value).__name__))
                continue
            limit = 4000 if kind == "text" else 500
            if len(str(value)) > limit:
                problems.append(msg("{where}: at most {limit} characters", where=where, limit=limit))
                continue
            clean[code] = str(value)
    return clean, problems
