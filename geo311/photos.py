"""Photos: checks, the public copy and thumbnail, and attaching photos to a submission. What EXIF
says (place, time) is read by photo_exif.py; files live in a PhotoStore (photo_store.py); rows in
`photos` and `submission_photos`.

Checks, all before anything is stored (the type comes from the content, never the name or the
declared type):

| refusal                                                         | HTTP | code                 |
|-----------------------------------------------------------------|------|----------------------|
| a file over photo_max_bytes, or the photos over                 | 413  | photo_too_large      |
|   photo_max_request_bytes together                              |      |                      |
| more pixels than photo_max_pixels (a decompression bomb)        | 413  | photo_too_many_pixels|
| not a JPEG, PNG, WebP or HEIC/HEIF image (text, PDF, GIF, ...)  | 415  | unsupported_photo    |
| a file of such a type that does not decode (truncated, damaged) | 422  | bad_photo            |
| more than MAX_PHOTOS photos in one submission                   | 422  | too_many_photos      |

Privacy: the public copy is made from the pixels alone: orientation applied, colours converted to
sRGB, at most PUBLIC_EDGE pixels on its long side, re-encoded as WebP with no EXIF, XMP or ICC
data, so no GPS position, device, serial number or owner leaves with it. The original is kept as
sent, for staff only. Public copies and thumbnails are content-addressed: `/photos/<sha256>.webp`.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311 import intake
from geo311.errors import DomainError, InvalidInput, NotFound, PayloadTooLarge, msg
from geo311.photo_exif import Exif, read_exif
from geo311.photo_store import PhotoStore, is_key, sha256
from geo311.settings import Settings

log = logging.getLogger("geo311.photos")

MAX_PHOTOS = 3
PUBLIC_EDGE = 2048
THUMB_EDGE = 320
#: Pillow format name -> the name people know
TYPES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "HEIF": "HEIC/HEIF"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/heic": "heic",
              "image/heif": "heif"}


class UnsupportedPhoto(DomainError):
    status = 415
    code = "unsupported_photo"


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10 * 1024 * 1024
    max_request_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_count: int = MAX_PHOTOS

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(settings.photo_max_bytes, settings.photo_max_request_bytes, settings.photo_max_pixels)


@dataclass(frozen=True)
class Photo:
    """One checked upload: the original, its public copy and thumbnail (bytes and keys), what EXIF says."""

    sha256: str
    media_type: str
    original: bytes
    public: bytes
    public_size: tuple[int, int]
    thumb: bytes
    thumb_size: tuple[int, int]
    exif: Exif

    @property
    def public_sha256(self) -> str:
        return sha256(self.public)

    @property
    def thumb_sha256(self) -> str:
        return sha256(self.thumb)


# ----- opening safely -----------------------------------------------------------------------
@lru_cache
def _formats() -> tuple[str, ...]:
    try:  # HEIC (iPhones) when pillow-heif is installed
        import pillow_heif

        pillow_heif.register_heif_opener()
        return tuple(TYPES)
    except ImportError:  # pragma: no cover - pillow-heif is a dependency
        return tuple(t for t in TYPES if t != "HEIF")


def _names() -> str:
    return ", ".join(TYPES[f] for f in _formats())


def check_sizes(sizes: Sequence[int], limits: Limits) -> None:
    """The number of photos, each one's size, and (for more than one) their sum."""
    if len(sizes) > limits.max_count:
        raise InvalidInput(msg("at most {max} photos go with one report; {count} were sent", max=limits.max_count,
                               count=len(sizes)),
                           code="too_many_photos")
    for i, size in enumerate(sizes, 1):
        if size > limits.max_bytes:
            raise PayloadTooLarge(msg("photo {n} is {size} MB; each photo may be at most {limit} MB", n=i,
                                      size=f"{size / 1048576:.1f}", limit=f"{limits.max_bytes / 1048576:.1f}"),
                                  code="photo_too_large")
    if len(sizes) > 1 and sum(sizes) > limits.max_request_bytes:
        raise PayloadTooLarge(msg("the photos are {size} MB together; at most {limit} MB go in one request",
                                  size=f"{sum(sizes) / 1048576:.1f}", limit=f"{limits.max_request_bytes / 1048576:.1f}"),
                              code="photo_too_large")


def _open(data: bytes, limits: Limits, what: str = msg("the photo")) -> tuple[Image.Image, str]:
    """The decoded image and its media type, or a refusal. Pixels are counted from the header
    before anything is decoded; Pillow's own bomb check stays on behind ours."""
    kind = "image"
    try:
        probe = Image.open(io.BytesIO(data), formats=_formats())
        # MPO (a JPEG with more pictures after the first, as some phones write) is the JPEG it is
        fmt = "JPEG" if probe.format == "MPO" else probe.format or ""
        kind = TYPES.get(fmt, kind)
        media_type = "image/jpeg" if fmt == "JPEG" else probe.get_format_mimetype() or "application/octet-stream"
        width, height = probe.size
        if width * height > limits.max_pixels:
            raise PayloadTooLarge(msg("{what} is {width} x {height} pixels; at most {limit} pixels are accepted "
                                      "(a bigger one could exhaust memory when decoded)", what=what, width=width,
                                      height=height, limit=f"{limits.max_pixels:,}"),
                                  code="photo_too_many_pixels")
        probe.verify()  # structure and checksums (PNG chunks); the image must be opened again after it
        im = Image.open(io.BytesIO(data), formats=_formats())
        if im.format in ("JPEG", "MPO"):
            im.draft("RGB" if im.mode == "RGB" else None, (PUBLIC_EDGE, PUBLIC_EDGE))  # decode no bigger than used
        im.load()
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(msg("{what} has too many pixels to decode safely", what=what),
                              code="photo_too_many_pixels") from exc
    except UnidentifiedImageError as exc:
        raise UnsupportedPhoto(msg("{what} is not an image of a type we take ({types}); the type is read from "
                                   "the content, not from the file name", what=what, types=_names())) from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        raise InvalidInput(msg("{what} could not be read: it looks like a damaged or incomplete {kind} file ({error})",
                               what=what, kind=kind, error=exc),
                           code="bad_photo") from exc
    return im, media_type


# ----- the public copy ----------------------------------------------------------------------
@lru_cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _pixels_only(im: Image.Image) -> Image.Image:
    """Upright, sRGB, RGB(A) pixels in a new image that carries nothing else."""
    im = ImageOps.exif_transpose(im)
    alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    mode = "RGBA" if alpha else "RGB"
    icc = im.info.get("icc_profile")
    converted = None
    if icc and im.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            converted = ImageCms.profileToProfile(im, ImageCms.ImageCmsProfile(io.BytesIO(icc)), _srgb(),
                                                  outputMode=mode if im.mode != "L" else "L")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            converted = None  # a broken profile: the pixels as they are
    im = (converted or im).convert(mode)
    clean = Image.new(mode, im.size)
    clean.paste(im)
    return clean


def _webp(im: Image.Image, edge: int, quality: int) -> tuple[bytes, tuple[int, int]]:
    copy = im.copy()
    copy.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    copy.save(buf, "WEBP", quality=quality, method=4, exif=b"", xmp=b"")
    return buf.getvalue(), copy.size


def inspect(data: bytes, limits: Limits) -> Exif:
    """Check one photo and read its EXIF (POST /photos/locate). Stores nothing."""
    check_sizes([len(data)], limits)
    im, _media_type = _open(data, limits)
    return read_exif(im.getexif())


def prepare(uploads: Sequence[bytes], limits: Limits) -> list[Photo]:
    """Check and process photos (in memory, nothing stored); the same bytes twice count once."""
    check_sizes([len(d) for d in uploads], limits)
    photos: dict[str, Photo] = {}
    for i, data in enumerate(uploads, 1):
        key = sha256(data)
        if key in photos:
            continue
        im, media_type = _open(data, limits, msg("photo {n}", n=i) if len(uploads) > 1 else msg("the photo"))
        exif = read_exif(im.getexif())
        clean = _pixels_only(im)
        public, public_size = _webp(clean, PUBLIC_EDGE, 82)
        thumb, thumb_size = _webp(clean, THUMB_EDGE, 75)
        photos[key] = Photo(key, media_type, data, public, public_size, thumb, thumb_size, exif)
    return list(photos.values())


# ----- attaching photos to a submission (intake.Attachments) --------------------------------
def _lock_key(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"photo:{key}".encode(), digest_size=8).digest(), "big", signed=True)


_FIND = text("SELECT id, public_sha256, thumb_sha256 FROM photos WHERE sha256 = :sha")
_INSERT = text("""
INSERT INTO photos (sha256, media_type, bytes, width, height, public_sha256, thumb_sha256, thumb_width,
                    thumb_height, taken_at)
VALUES (:sha, :type, :bytes, :w, :h, :public, :thumb, :tw, :th, :taken)
RETURNING id, public_sha256, thumb_sha256""")
_LINK = text("INSERT INTO submission_photos (jurisdiction_id, submission_id, position, photo_id) "
             "VALUES (:jurisdiction, :sub, :pos, :photo)")


class PhotoAttachments:
    """Stores a submission's photos inside intake's transaction, under advisory locks on their keys:
    files are written after the locks are taken and, when the submission is refused, the files this
    submission created are deleted before the locks go, so a concurrent upload of the same photo never
    loses its file and a refused one leaves none behind."""

    def __init__(self, photos: Sequence[Photo], store: PhotoStore) -> None:
        self.photos = list(photos)
        self.store = store
        self.created: list[tuple[str, str]] = []

    def lock_keys(self) -> list[int]:
        return sorted({_lock_key(p.sha256) for p in self.photos})

    def _put(self, area: str, data: bytes) -> None:
        key, created = self.store.put(area, data)
        if created:
            self.created.append((area, key))

    def store_for(self, session: Session, submission_id: int, jurisdiction_id: int) -> None:
        for position, p in enumerate(self.photos, 1):
            row = session.execute(_FIND, {"sha": p.sha256}).first()
            if row is None:
                row = session.execute(_INSERT, {
                    "sha": p.sha256, "type": p.media_type, "bytes": len(p.original), "w": p.public_size[0],
                    "h": p.public_size[1], "public": p.public_sha256, "thumb": p.thumb_sha256,
                    "tw": p.thumb_size[0], "th": p.thumb_size[1], "taken": p.exif.taken_at_zoned}).one()
            self._put("original", p.original)
            # a photo stored before keeps its public files (an older encoder may have made other bytes)
            for data in (p.public, p.thumb):
                if sha256(data) in (row.public_sha256, row.thumb_sha256):
                    self._put("public", data)
            session.execute(_LINK, {"jurisdiction": jurisdiction_id, "sub": submission_id, "pos": position,
                                    "photo": row.id})

    def discard(self) -> None:
        for area, key in self.created:
            try:
                self.store.delete(area, key)
            except OSError:  # pragma: no cover - logged; sweep() removes it later
                log.exception("could not delete the %s photo %s of a refused submission", area, key)
        self.created.clear()


def submit_with_photos(session: Session, sub: intake.NewSubmission, uploads: Sequence[bytes], store: PhotoStore,
                       limits: Limits, *, boundary_margin_m: float = 15.0, join_report_id: int | None = None,
                       describe: Callable[[Session, int], Any] | None = None) -> intake.SubmitResult:
    """intake.submit() with photos: checked and processed first (a refusal stores nothing), their
    hashes part of the payload (Idempotency-Key), stored with the submission in its transaction.
    A submission that joins a report brings its photos to it."""
    photos = prepare(uploads, limits)
    sub = replace(sub, photos=tuple(p.sha256 for p in photos))
    return intake.submit(session, sub, boundary_margin_m=boundary_margin_m, join_report_id=join_report_id,
                         attachments=PhotoAttachments(photos, store) if photos else None, describe=describe)


# ----- reading --------------------------------------------------------------------------------
def photos_sql(report: str = "r", *, staff: bool = False) -> str:
    """SQL: a report's photos as a JSON array (each once, in the order they came): id, url (the public
    copy), thumbnail_url, their sizes; with `staff`, original_url too."""
    original = ", 'original_url', '/api/v1/photos/' || p.id || '/original'" if staff else ""
    return (
        "coalesce((SELECT json_agg(json_build_object('id', p.id, "
        "'url', '/photos/' || p.public_sha256 || '.webp', 'width', p.width, 'height', p.height, "
        "'thumbnail_url', '/photos/' || p.thumb_sha256 || '.webp', 'thumbnail_width', p.thumb_width, "
        f"'thumbnail_height', p.thumb_height{original}) ORDER BY x.first) "
        "FROM (SELECT sp.photo_id, min(ARRAY[sp.submission_id, sp.position]) AS first "
        "      FROM submissions s JOIN submission_photos sp "
        "        ON sp.jurisdiction_id = s.jurisdiction_id AND sp.submission_id = s.id "
        f"     WHERE s.jurisdiction_id = {report}.jurisdiction_id AND s.report_id = {report}.id "
        "      GROUP BY sp.photo_id) x JOIN photos p ON p.id = x.photo_id), '[]'::json)")


def first_photo_sql(report: str = "r") -> str:
    """SQL: the path of a report's first public photo, or NULL (Open311's media_url)."""
    return ("(SELECT '/photos/' || p.public_sha256 || '.webp' FROM submissions s "
            "JOIN submission_photos sp ON sp.jurisdiction_id = s.jurisdiction_id AND sp.submission_id = s.id "
            "JOIN photos p ON p.id = sp.photo_id "
            f"WHERE s.jurisdiction_id = {report}.jurisdiction_id AND s.report_id = {report}.id "
            "ORDER BY s.id, sp.position LIMIT 1)")


def public_key(name: str) -> str | None:
    """The key in a public file name `<sha256>.webp`, or None for any other name."""
    key, dot, ext = name.partition(".")
    return key if is_key(key) and dot and ext == "webp" else None


def public_file(store: PhotoStore, name: str) -> bytes:
    """The bytes of a public copy or thumbnail by its file name `<sha256>.webp`."""
    key = public_key(name)
    data = store.get("public", key) if key else None
    if data is None:
        raise NotFound(msg("no photo {name!r}", name=name))
    return data


def original_file(session: Session, store: PhotoStore, photo_id: int) -> tuple[bytes, str, str]:
    """(bytes, media type, file name) of a photo's original, exactly as it was sent."""
    row = session.execute(text("SELECT sha256, media_type FROM photos WHERE id = :id"), {"id": photo_id}).first()
    data = store.get("original", row.sha256) if row else None
    if data is None:
        raise NotFound(msg("photo {photo_id} does not exist", photo_id=photo_id))
    return data, row.media_type, f"photo-{photo_id}.{EXTENSIONS.get(row.media_type, 'bin')}"


def sweep(session: Session, store: PhotoStore, *, older_than_s: float = 3600) -> int:
    """Delete files no row refers to (left by a process that died between writing and committing);
    only files older than `older_than_s`, so a submission in flight keeps its own. Returns how many."""
    removed = 0
    for area, column_sql in (("original", "SELECT sha256 FROM photos WHERE sha256 = ANY(:keys)"),
                             ("public", "SELECT public_sha256 FROM photos WHERE public_sha256 = ANY(:keys) "
                                        "UNION SELECT thumb_sha256 FROM photos WHERE thumb_sha256 = ANY(:keys)")):
        keys = list(store.keys(area, older_than_s))
        if not keys:
            continue
        used = set(session.execute(text(column_sql), {"keys": keys}).scalars())
        for key in keys:
            if key not in used:
                store.delete(area, key)
                removed += 1
    session.rollback()
    return removed
