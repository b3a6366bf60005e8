"""What residents choose from: categories, district layers and districts, the service area."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from geo311.api.deps import SessionDep, get_principal
from geo311.api.responses import GeoJSONResponse, JSONBody
from geo311.boundaries import districts_geojson, list_boundaries, service_area
from geo311.categories import list_categories

router = APIRouter(prefix="/api/v1", tags=["catalog"], dependencies=[Depends(get_principal)])

_PUBLIC_CATEGORY_FIELDS = ("code", "name", "description", "group", "keywords", "priority", "target_days",
                           "dedup_radius_m", "dedup_window_days", "attributes")


@router.get("/categories", summary="The categories a resident can report, with their questions")
def categories(session: SessionDep) -> JSONBody:
    rows = list_categories(session, active_only=True)
    return JSONBody({"categories": [
        {k: c[k] for k in _PUBLIC_CATEGORY_FIELDS} | {"agencies": c["routes"]} for c in rows]})


@router.get("/layers", summary="District layers (neighborhood, council_district, ...)")
def layers(session: SessionDep) -> JSONBody:
    return JSONBody({"layers": [
        {"key": lay["key"], "title": lay["title"], "districts": lay["districts"]}
        for lay in list_boundaries(session)["layers"]]})


@router.get("/districts", summary="One layer's districts as GeoJSON, each with a centre to place a pin",
            response_class=GeoJSONResponse)
def districts(session: SessionDep,
              layer: Annotated[str, Query(description="a layer key from /api/v1/layers")]) -> GeoJSONResponse:
    return GeoJSONResponse(districts_geojson(session, layer))


@router.get("/service-area", summary="Jurisdiction outlines and their bounding box")
def area(session: SessionDep) -> JSONBody:
    return JSONBody(service_area(session))
