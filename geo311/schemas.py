"""Wire models: request bodies and the documented shape of replies (big replies are built in SQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from geo311.errors import msg

MAX_DESCRIPTION = 4000


class _Open(BaseModel):
    """Unknown members are kept (and stored with the submission): nothing a resident sends is lost."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)


class PointIn(_Open):
    type: str = Field(description='"Point"', examples=["Point"])
    coordinates: list[Any] = Field(description="[longitude, latitude] in WGS84 (RFC 7946 order)",
                                   examples=[[-122.6587, 45.5122]])

    @field_validator("type")
    @classmethod
    def _point(cls, v: str) -> str:
        if v != "Point":
            raise ValueError(msg("the geometry must be a Point (one map pin), not a {kind}", kind=v))
        return v

    @field_validator("coordinates")
    @classmethod
    def _numbers(cls, v: list[Any]) -> list[Any]:
        if len(v) not in (2, 3) or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in v):
            raise ValueError(msg("coordinates must be [longitude, latitude] as two numbers"))
        return v


class ReporterIn(_Open):
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=50)


class ReportPropertiesIn(_Open):
    category: str = Field(min_length=1, max_length=64, description="a category code from /api/v1/categories",
                          examples=["campsite"])
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    address: str | None = Field(default=None, max_length=500)
    reporter: ReporterIn | None = None
    attributes: dict[str, Any] = Field(default_factory=dict,
                                       description="answers to the category's attribute questions, by code")


class ReportFeatureIn(_Open):
    """A report as a GeoJSON Feature: where (a Point; or null with properties.address, which is then
    looked up among the address points) and what (properties)."""

    type: Literal["Feature"]
    geometry: PointIn | None
    properties: ReportPropertiesIn

    @model_validator(mode="after")
    def _somewhere(self) -> ReportFeatureIn:
        if self.geometry is None and not (self.properties.address or "").strip():
            raise ValueError(msg("give the place: a Point geometry, or geometry null and properties.address"))
        return self

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-122.6587, 45.5122]},
        "properties": {"category": "campsite", "description": "Two tents on the sidewalk",
                       "address": "SE Water Ave & SE Salmon St",
                       "reporter": {"name": "Sam", "email": "sam@example.org"},
                       "attributes": {"tents": 2, "blocking": "yes"}},
    }]})


class ReportProperties(BaseModel):
    """What every report reply carries. Never a resident's name, email or phone."""

    id: int
    category: str
    category_name: str
    status: str
    priority: int = Field(description="1 lowest .. 5 most urgent")
    jurisdiction: str
    agency: str
    districts: dict[str, list[str]] = Field(description="district layer -> names of the districts covering it")
    submission_count: int
    near_boundary: bool
    description: str
    address: str | None
    matched_address: str | None = Field(default=None, description="the address point an address-only report was placed at")
    created_at: datetime
    updated_at: datetime
    merged: bool | None = Field(default=None, description="true when this submission joined an existing report")
    distance_m: float | None = Field(default=None, description="metres from the submitted point to the report")


class ReportFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: int
    geometry: dict[str, Any]
    properties: ReportProperties


class ReportCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[ReportFeature]
    links: list[dict[str, str]] = Field(default_factory=list)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorReply(BaseModel):
    error: ErrorBody
