"""What a photo's EXIF data says about where and when it was taken.

Cameras write GPSLatitude/GPSLongitude as three RATIONALs (degrees, minutes, seconds), most often
((d,1),(m,1),(s,100)), some as degrees and decimal minutes ((d,1),(m,100),(0,1)), a few as decimal
degrees; readers hand them over as IFDRationals or (numerator, denominator) pairs. GPSLatitudeRef
S and GPSLongitudeRef W are negative. GPSHPositioningError is the accuracy in metres. The time
taken is DateTimeOriginal with OffsetTimeOriginal; without an offset, the GPS clock (UTC); else the
camera's local time, without an offset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from PIL import Image

_GPS_IFD, _EXIF_IFD = 0x8825, 0x8769
_LAT_REF, _LAT, _LON_REF, _LON, _GPS_TIME, _GPS_STATUS, _GPS_DATE, _GPS_ERROR = 1, 2, 3, 4, 7, 9, 29, 31
_DATETIME_ORIGINAL, _OFFSET_ORIGINAL = 0x9003, 0x9011


@dataclass(frozen=True)
class Exif:
    """What a photo says about where and when it was taken."""

    lon: float | None = None
    lat: float | None = None
    accuracy_m: float | None = None
    #: ISO 8601: with its offset when the camera recorded one (or the GPS clock, UTC), else local time
    taken_at: str | None = None

    @property
    def taken_at_zoned(self) -> datetime | None:
        """The time taken as an aware datetime when its offset is known (stored with the photo), else None."""
        when = datetime.fromisoformat(self.taken_at) if self.taken_at else None
        return when if when is not None and when.tzinfo is not None else None

    def as_reply(self) -> dict[str, Any]:
        if self.lon is None or self.lat is None:
            return {"located": False, "message": "this photo carries no location (no GPS position in its "
                    "EXIF data): place the pin on the map", "taken_at": self.taken_at}
        return {"located": True, "lon": self.lon, "lat": self.lat, "accuracy_m": self.accuracy_m,
                "taken_at": self.taken_at}


def rational(value: Any) -> float | None:
    """A rational as cameras write it: IFDRational, a (numerator, denominator) pair, or a number."""
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return value[0] / value[1] if value[1] else None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None


def degrees(value: Any) -> float | None:
    """GPSLatitude/GPSLongitude: ((d,1),(m,1),(s,100)), three IFDRationals, or decimal degrees."""
    if isinstance(value, (tuple, list)) and value and not (
            len(value) == 2 and all(isinstance(v, int) for v in value)):
        parts = [rational(v) for v in value[:3]]
        if any(p is None or p < 0 for p in parts) or any(p >= 60 for p in parts[1:]):
            return None
        return sum(p / 60 ** i for i, p in enumerate(parts))
    number = rational(value)
    return abs(number) if number is not None else None


def ref(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value or "").strip("\x00 ").upper()[:1]


def _when(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def _offset(value: Any) -> timezone | None:
    text_ = str(value or "").strip("\x00 ")
    if len(text_) != 6 or text_[0] not in "+-" or text_[3] != ":":
        return None
    try:
        minutes = int(text_[1:3]) * 60 + int(text_[4:6])
    except ValueError:
        return None
    return timezone(timedelta(minutes=-minutes if text_[0] == "-" else minutes)) if minutes <= 14 * 60 else None


def _gps_time(gps: dict) -> datetime | None:
    """GPSDateStamp + GPSTimeStamp: the satellite clock, in UTC."""
    stamp, clock = gps.get(_GPS_DATE), gps.get(_GPS_TIME)
    if not stamp or not isinstance(clock, (tuple, list)) or len(clock) != 3:
        return None
    try:
        day = datetime.strptime(str(stamp).strip("\x00 "), "%Y:%m:%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    parts = [rational(v) for v in clock]
    if any(p is None or p < 0 for p in parts) or parts[0] >= 24 or parts[1] >= 60 or parts[2] >= 61:
        return None
    return day + timedelta(hours=parts[0], minutes=parts[1], seconds=int(parts[2]))


def read_exif(exif: Image.Exif) -> Exif:
    """Location (GPSLatitude/-Longitude with their S/W references, GPSHPositioningError as accuracy)
    and time taken (DateTimeOriginal with OffsetTimeOriginal; without an offset the GPS clock, in
    UTC; else the camera's local time without an offset). A void fix or 0,0 is no location."""
    gps = dict(exif.get_ifd(_GPS_IFD))
    details = dict(exif.get_ifd(_EXIF_IFD))
    taken = _when(details.get(_DATETIME_ORIGINAL))
    zone = _offset(details.get(_OFFSET_ORIGINAL))
    when = taken.replace(tzinfo=zone) if taken and zone else (_gps_time(gps) or taken)
    taken_at = when.isoformat() if when else None

    lat, lon = degrees(gps.get(_LAT)), degrees(gps.get(_LON))
    if lat is None or lon is None or ref(gps.get(_GPS_STATUS)) == "V" or (lat == 0 and lon == 0):
        return Exif(taken_at=taken_at)
    if ref(gps.get(_LAT_REF)) == "S":
        lat = -lat
    if ref(gps.get(_LON_REF)) == "W":
        lon = -lon
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return Exif(taken_at=taken_at)
    accuracy = rational(gps.get(_GPS_ERROR))
    return Exif(lon=round(lon, 7), lat=round(lat, 7),
                accuracy_m=round(accuracy, 1) if accuracy is not None and accuracy >= 0 else None,
                taken_at=taken_at)
