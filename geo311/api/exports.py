"""GET /api/v1/reports/export: any selection of reports as GeoJSON text sequences or CSV, streamed.

Included before the reports router, so that /reports/export is not taken for /reports/{report_id}.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from geo311.api.deps import PrincipalDep, ReadSessionDep, get_principal
from geo311.api.reports import Bbox, CategoryQ, DistrictQ, StatusQ, _filter
from geo311.exports import MEDIA_TYPES, SUFFIXES, stream_export
from geo311.schemas import ErrorReply

router = APIRouter(prefix="/api/v1", tags=["reports"], dependencies=[Depends(get_principal)])


@router.get("/reports/export", summary="Export reports (the list's filters) as GeoJSON text sequences or CSV",
            response_class=StreamingResponse,
            responses={200: {"content": {MEDIA_TYPES["geojsonseq"]: {}, MEDIA_TYPES["csv"]: {}},
                             "description": "streamed; staff keys also get the reporters' contact data"},
                       422: {"model": ErrorReply}})
def export(session: ReadSessionDep, principal: PrincipalDep,
           format: Annotated[Literal["geojsonseq", "csv"], Query(
               description="geojsonseq: RFC 8142 GeoJSON text sequences (one Feature per line); csv")] = "geojsonseq",
           bbox: Bbox = None, category: CategoryQ = None, status: StatusQ = None, district: DistrictQ = None,
           since: datetime | None = None, until: datetime | None = None) -> StreamingResponse:
    flt = _filter(session, bbox, category, status, district, since, until)  # a bad filter is a 422 before any byte
    body = stream_export(session, flt, format, staff=principal.is_staff)
    return StreamingResponse(body, media_type=MEDIA_TYPES[format], headers={
        "Content-Disposition": f'attachment; filename="reports{SUFFIXES[format]}"'})
