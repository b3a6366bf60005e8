"""Real-format test photos, made here: JPEGs whose EXIF block is written byte by byte as cameras
write it (GPS degrees, minutes and seconds as RATIONAL pairs such as ((33,1),(51,1),(5432,100)),
either byte order), PNG and WebP with EXIF, HEIC when pillow-heif can write it, and the files
that must be refused (text, a damaged JPEG, a PNG that declares huge dimensions)."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo

MAKE, MODEL, ARTIST, OWNER, SERIAL = "Pixelphone Inc", "Pixel 99 Pro", "Jane Photographer", "Jane Owner", "SN-4471-XK"
#: the strings no public copy may carry
IDENTIFYING = [s.encode() for s in (MAKE, MODEL, ARTIST, OWNER, SERIAL)]

_BYTE, _ASCII, _SHORT, _LONG, _RATIONAL = 1, 2, 3, 4, 5
_SIZES = {_BYTE: 1, _ASCII: 1, _SHORT: 2, _LONG: 4, _RATIONAL: 8}

Rational = tuple[int, int]


@dataclass
class Gps:
    lat: tuple[Rational, ...]
    lat_ref: str
    lon: tuple[Rational, ...]
    lon_ref: str
    accuracy: Rational | None = None
    status: str | None = None
    date: str | None = None  # GPSDateStamp, YYYY:MM:DD
    time: tuple[Rational, Rational, Rational] | None = None  # GPSTimeStamp (UTC)


def dms(degrees: int, minutes: int, seconds_hundredths: int) -> tuple[Rational, Rational, Rational]:
    """((d,1),(m,1),(s,100)): what most phone cameras write."""
    return (degrees, 1), (minutes, 1), (seconds_hundredths, 100)


def _entry(bo: str, tag: int, typ: int, values) -> tuple[int, int, int, bytes]:
    if typ == _ASCII:
        data = values.encode() + b"\x00"
        return tag, typ, len(data), data
    if typ == _RATIONAL:
        return tag, typ, len(values), b"".join(struct.pack(bo + "II", n, d) for n, d in values)
    fmt = {_BYTE: "B", _SHORT: "H", _LONG: "I"}[typ]
    return tag, typ, len(values), b"".join(struct.pack(bo + fmt, v) for v in values)


def _ifd(bo: str, entries: list[tuple[int, int, int, bytes]], offset: int) -> bytes:
    """One IFD at `offset` (from the TIFF header): entries sorted by tag, long values after it."""
    entries = sorted(entries)
    data_at = offset + 2 + 12 * len(entries) + 4
    head, tail = struct.pack(bo + "H", len(entries)), b""
    for tag, typ, count, data in entries:
        if len(data) <= 4:
            head += struct.pack(bo + "HHI", tag, typ, count) + data.ljust(4, b"\x00")
        else:
            head += struct.pack(bo + "HHII", tag, typ, count, data_at + len(tail))
            tail += data + (b"\x00" if len(data) % 2 else b"")
    return head + struct.pack(bo + "I", 0) + tail


def exif_block(*, gps: Gps | None = None, make: str | None = MAKE, model: str | None = MODEL,
               artist: str | None = ARTIST, owner: str | None = OWNER, serial: str | None = SERIAL,
               orientation: int = 1, taken: str | None = "2024:05:01 10:20:30", offset: str | None = "-07:00",
               big_endian: bool = False) -> bytes:
    """An APP1 EXIF payload ("Exif\\0\\0" + TIFF), as a camera writes it."""
    bo = ">" if big_endian else "<"
    ifd0 = [_entry(bo, 0x0112, _SHORT, [orientation])]
    for tag, value in ((0x010F, make), (0x0110, model), (0x013B, artist)):
        if value:
            ifd0.append(_entry(bo, tag, _ASCII, value))
    exif = []
    for tag, value in ((0x9003, taken), (0x9011, offset), (0xA430, owner), (0xA431, serial)):
        if value:
            exif.append(_entry(bo, tag, _ASCII, value))
    gps_entries = []
    if gps:
        gps_entries = [_entry(bo, 0, _BYTE, [2, 3, 0, 0]), _entry(bo, 1, _ASCII, gps.lat_ref),
                       _entry(bo, 2, _RATIONAL, gps.lat), _entry(bo, 3, _ASCII, gps.lon_ref),
                       _entry(bo, 4, _RATIONAL, gps.lon)]
        if gps.accuracy:
            gps_entries.append(_entry(bo, 31, _RATIONAL, [gps.accuracy]))
        if gps.status:
            gps_entries.append(_entry(bo, 9, _ASCII, gps.status))
        if gps.date:
            gps_entries.append(_entry(bo, 29, _ASCII, gps.date))
        if gps.time:
            gps_entries.append(_entry(bo, 7, _RATIONAL, gps.time))
    # two passes: the pointers' values do not change the sizes
    pointers = [(0x8769, exif), (0x8825, gps_entries)]
    sizes = {}
    for _ in range(2):
        at = 8
        entries0 = ifd0 + [_entry(bo, tag, _LONG, [sizes.get(tag, 0)]) for tag, items in pointers if items]
        blocks = [_ifd(bo, entries0, at)]
        at += len(blocks[0])
        for tag, items in pointers:
            if items:
                sizes[tag] = at
                blocks.append(_ifd(bo, items, at))
                at += len(blocks[-1])
    header = (b"MM" if big_endian else b"II") + struct.pack(bo + "HI", 42, 8)
    return b"Exif\x00\x00" + header + b"".join(blocks)


def _picture(size: tuple[int, int]) -> Image.Image:
    """Not one flat colour: a gradient with a red corner, so orientation can be checked."""
    w, h = size
    im = Image.linear_gradient("L").resize(size).convert("RGB")
    im.paste((220, 20, 20), (0, 0, max(1, w // 4), max(1, h // 4)))
    return im


def jpeg(exif: bytes | None = None, size: tuple[int, int] = (64, 48), icc: bytes | None = None,
         quality: int = 90) -> bytes:
    buf = io.BytesIO()
    kwargs = {"exif": exif} if exif else {}
    if icc:
        kwargs["icc_profile"] = icc
    _picture(size).save(buf, "JPEG", quality=quality, **kwargs)
    return buf.getvalue()


def png(exif: bytes | None = None, size: tuple[int, int] = (64, 48), alpha: bool = False) -> bytes:
    info = PngInfo()
    info.add_text("Author", ARTIST)
    info.add_itxt("XML:com.adobe.xmp", f"<x:xmpmeta><dc:creator>{OWNER}</dc:creator></x:xmpmeta>")
    im = _picture(size).convert("RGBA" if alpha else "RGB")
    buf = io.BytesIO()
    im.save(buf, "PNG", pnginfo=info, **({"exif": exif[6:]} if exif else {}))
    return buf.getvalue()


def webp(exif: bytes | None = None, size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    _picture(size).save(buf, "WEBP", quality=90, **({"exif": exif} if exif else {}),
                        xmp=f"<x:xmpmeta><dc:creator>{OWNER}</dc:creator></x:xmpmeta>".encode())
    return buf.getvalue()


def heic(exif: bytes | None = None, size: tuple[int, int] = (64, 48)) -> bytes | None:
    """A HEIC photo, or None where pillow-heif cannot write one."""
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        buf = io.BytesIO()
        _picture(size).save(buf, "HEIF", quality=90, **({"exif": exif[6:]} if exif else {}))
        return buf.getvalue()
    except Exception:  # no encoder here
        return None


def icc_profile() -> bytes:
    """An ICC profile (sRGB) naming its maker, as some cameras embed one."""
    profile = ImageCms.createProfile("sRGB")
    return ImageCms.ImageCmsProfile(profile).tobytes()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A few hundred bytes of PNG that declares width x height pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def truncated_jpeg() -> bytes:
    data = jpeg(size=(400, 300))
    return data[: len(data) // 2]


TEXT_FILE = b"Dear city, there is a pothole on my street. This is a text file named photo.jpg.\n" * 4

#: Portland (N, W), in the service area; Santiago de Chile (S, W); Sydney (S, E)
PORTLAND = Gps(dms(45, 30, 4392), "N", dms(122, 39, 3132), "W", accuracy=(5, 1))
SANTIAGO = Gps(dms(33, 26, 4500), "S", dms(70, 40, 1234), "W", accuracy=(1234, 100))
SYDNEY = Gps(dms(33, 52, 2)[:2] + ((0, 1),), "S", ((151, 1), (1239, 100), (0, 1)), "E")


def degrees(parts: tuple[Rational, ...]) -> float:
    return sum(n / d / 60 ** i for i, (n, d) in enumerate(parts))
