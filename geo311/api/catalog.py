"""What residents choose from: categories, district layers and districts, the service area.

Category texts (name, group, description, questions and answers) and layer titles come in the
request's language (`?lang=`, the picker's cookie, Accept-Language); `lang` says which."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from geo311 import i18n
from geo311.api.deps import SessionDep, get_principal
from geo311.api.responses import GeoJSONResponse, JSONBody
from geo311.boundaries import districts_geojson, list_boundaries, service_area
from geo311.categories import list_categories
from geo311.pages import translate_attribute

router = APIRouter(prefix="/api/v1", tags=["catalog"], dependencies=[Depends(get_principal)])

_PUBLIC_CATEGORY_FIELDS = ("code", "name", "description", "group", "keywords", "priority", "target_days",
                           "dedup_radius_m", "dedup_window_days", "attributes")


LangQuery = Annotated[str | None, Query(description="language of the texts (es, vi, zh-Hans, ...); "
                                                   "else the cookie geo311_lang, else Accept-Language")]


def _translator(request: Request) -> i18n.Translator:
    return i18n.Translator(i18n.pick(request.query_params, request.cookies, request.headers))


def _localized(body: dict, tr: i18n.Translator) -> JSONBody:
    return JSONBody(body | {"lang": tr.tag}, headers={"Content-Language": tr.tag, "Vary": "Accept-Language, Cookie"})


def _category(c: dict, tr: i18n.Translator) -> dict:
    out = {k: c[k] for k in _PUBLIC_CATEGORY_FIELDS} | {"agencies": c["routes"]}
    out["name"] = tr.category_text(c["name"])
    out["description"] = tr.category_text(c["description"])
    out["group"] = tr.category_text(c["group"]) or c["group"]
    out["attributes"] = [translate_attribute(a, tr) for a in c["attributes"] or []]
    return out


@router.get("/categories", summary="The categories a resident can report, with their questions")
def categories(request: Request, session: SessionDep, lang: LangQuery = None) -> JSONBody:
    tr = _translator(request)
    rows = list_categories(session, active_only=True)
    return _localized({"categories": [_category(c, tr) for c in rows]}, tr)


@router.get("/layers", summary="District layers (neighborhood, council_district, ...)")
def layers(request: Request, session: SessionDep, lang: LangQuery = None) -> JSONBody:
    tr = _translator(request)
    return _localized({"layers": [
        {"key": lay["key"], "title": tr.lookup(lay["title"], i18n.LAYER_CONTEXT) if lay["title"] else lay["title"],
         "districts": lay["districts"]}
        for lay in list_boundaries(session)["layers"]]}, tr)


@router.get("/districts", summary="One layer's districts as GeoJSON, each with a centre to place a pin",
            response_class=GeoJSONResponse)
def districts(session: SessionDep,
              layer: Annotated[str, Query(description="a layer key from /api/v1/layers")]) -> GeoJSONResponse:
    return GeoJSONResponse(districts_geojson(session, layer))


@router.get("/service-area", summary="Jurisdiction outlines and their bounding box")
def area(session: SessionDep) -> JSONBody:
    return JSONBody(service_area(session))
