"""Reading and checking a boundary GeoJSON file, before anything touches the database.

Accepted: a FeatureCollection (or a single Feature) of Polygon / MultiPolygon features, with or
without a `properties` member, in lon/lat: no `crs` member, or one naming CRS84, EPSG:4326 or
EPSG:4269 (NAD83, under 2 m from WGS84 here, treated as 4326). Everything else is refused with a
message that says what to do; a refused file loads nothing.
"""

from __future__ import annotations

import gzip
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from geo311.errors import InvalidInput

POLYGONAL = ("Polygon", "MultiPolygon")
ACCEPTED_EPSG = {4326, 4269}


class BoundaryFileError(InvalidInput):
    code = "bad_boundary_file"


@dataclass(frozen=True)
class BoundaryFeature:
    index: int  # position in the file, from 0, for messages
    name: str | None
    code: str | None
    geometry: bytes  # the GeoJSON geometry, re-serialised, for ST_GeomFromGeoJSON


@dataclass(frozen=True)
class BoundaryFile:
    path: str
    features: list[BoundaryFeature]
    skipped: int  # features left out by a --where filter


def _crs_ok(crs: Any) -> bool:
    """True for the lon/lat CRSs we accept; the test is on the name, as GeoJSON writers spell it."""
    if crs is None:
        return True
    if not isinstance(crs, dict):
        return False
    props = crs.get("properties") or {}
    if crs.get("type") == "EPSG":  # the 2008 GeoJSON draft: {"type": "EPSG", "properties": {"code": 4326}}
        return str(props.get("code")) in {str(c) for c in ACCEPTED_EPSG}
    name = str(props.get("name", "")).strip().upper()
    if re.fullmatch(r"(URN:OGC:DEF:CRS:OGC:(1\.3)?:|OGC:|HTTP://WWW\.OPENGIS\.NET/DEF/CRS/OGC/1\.3/)?CRS84", name):
        return True
    match = re.search(r"EPSG(?::[\d.]*:|:|/0/|::)(\d+)$", name)
    return bool(match) and int(match.group(1)) in ACCEPTED_EPSG


def _crs_name(crs: Any) -> str:
    try:
        return str(crs["properties"].get("name") or crs["properties"].get("code") or crs)
    except (KeyError, TypeError, AttributeError):
        return str(crs)


def _check_coordinates(coords: Any, where: str) -> None:
    """Every position is [lon, lat] in range and finite; a projected file fails here."""
    stack = [coords]
    while stack:
        item = stack.pop()
        if not isinstance(item, list) or not item:
            raise BoundaryFileError(f"{where}: its coordinates are not nested lists of positions")
        if isinstance(item[0], (int, float)):
            if len(item) < 2 or not all(isinstance(v, (int, float)) for v in item):
                raise BoundaryFileError(f"{where}: a position must be [longitude, latitude], got {item!r}")
            lon, lat = item[0], item[1]
            if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
                raise BoundaryFileError(
                    f"{where}: position [{lon}, {lat}] is not a longitude/latitude; the file looks "
                    "projected. Reproject it to EPSG:4326 first (ogr2ogr -t_srs EPSG:4326 out.geojson in.shp)"
                )
        else:
            stack.extend(item)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def read_boundary_file(
    path: str | Path,
    *,
    name_field: str | None = None,
    code_field: str | None = None,
    where: tuple[str, str] | None = None,
) -> BoundaryFile:
    """Parse and check the whole file; raise BoundaryFileError on the first thing that is wrong."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BoundaryFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BoundaryFileError(f"{path.name} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("type") not in ("FeatureCollection", "Feature"):
        raise BoundaryFileError(f"{path.name} is not a GeoJSON FeatureCollection or Feature")
    if not _crs_ok(doc.get("crs")):
        raise BoundaryFileError(
            f"{path.name} declares the coordinate system {_crs_name(doc.get('crs'))!r}; geo311 reads "
            "lon/lat only (CRS84, EPSG:4326 or EPSG:4269). Reproject it: ogr2ogr -t_srs EPSG:4326 out.geojson in.geojson"
        )
    features = doc.get("features") if doc["type"] == "FeatureCollection" else [doc]
    if not isinstance(features, list):
        raise BoundaryFileError(f"{path.name}: `features` must be a list")
    if not features:
        raise BoundaryFileError(f"{path.name} holds no features: nothing to load")

    out: list[BoundaryFeature] = []
    skipped = 0
    for i, feature in enumerate(features):
        label = f"{path.name}, feature {i}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise BoundaryFileError(f"{label} is not a GeoJSON Feature")
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise BoundaryFileError(f"{label}: `properties` must be an object")
        if where and _text(props.get(where[0])) != where[1]:
            skipped += 1
            continue
        geometry = feature.get("geometry")
        if not isinstance(geometry, dict) or geometry.get("type") not in POLYGONAL:
            kind = geometry.get("type") if isinstance(geometry, dict) else "no geometry"
            raise BoundaryFileError(
                f"{label} is a {kind}; boundary layers take Polygon or MultiPolygon features only"
            )
        _check_coordinates(geometry.get("coordinates"), label)
        name = code = None
        if name_field:
            name = _text(props.get(name_field))
            if name is None:
                present = ", ".join(sorted(props)) or "none"
                raise BoundaryFileError(
                    f"{label} has no value in the name field {name_field!r} "
                    f"(its properties: {present}); pick the field with --name-field"
                )
        if code_field:
            code = _text(props.get(code_field))
        out.append(BoundaryFeature(i, name, code, orjson.dumps(geometry)))
    if not out:
        raise BoundaryFileError(f"{path.name}: no feature has {where[0]} = {where[1]!r}" if where else
                                f"{path.name} holds no features: nothing to load")
    return BoundaryFile(str(path), out, skipped)
