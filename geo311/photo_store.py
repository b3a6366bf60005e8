"""Where photo files live: a small content-addressed store (the key is the SHA-256 of the bytes).

Two areas keep apart what may be shown to anyone and what may not:

- `public`: the re-encoded public copies and thumbnails (no metadata), served to everyone;
- `original`: the files exactly as residents sent them (with their EXIF: GPS, device, owner),
  served to staff only.

The same bytes are stored once per area however often they are uploaded. `LocalPhotoStore` keeps
them under a folder (`<photo_dir>/<area>/<first two hex digits>/<sha256>`); another store (an
S3-compatible bucket, say) only has to offer the same five methods. Writes are atomic (a temporary
file, then a rename), so a reader never sees half a photo.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from geo311.settings import Settings

AREAS = ("public", "original")
_KEY = re.compile(r"^[0-9a-f]{64}$")
_TMP_PREFIX = ".tmp-"
log = logging.getLogger("geo311.photos")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_key(value: str) -> bool:
    return bool(_KEY.match(value))


class PhotoStore(Protocol):
    """The interface every photo store offers. Keys are lower-case hex SHA-256 of the content."""

    def put(self, area: str, data: bytes) -> tuple[str, bool]:
        """Store `data`; returns (key, True when this call created it, False when it was there)."""

    def get(self, area: str, key: str) -> bytes | None:
        """The bytes under `key`, or None."""

    def exists(self, area: str, key: str) -> bool: ...

    def delete(self, area: str, key: str) -> None:
        """Remove `key` (nothing happens when it is not there)."""

    def keys(self, area: str, older_than_s: float = 0) -> Iterator[str]:
        """Every key in `area` stored at least `older_than_s` seconds ago (for sweeping orphans)."""


class LocalPhotoStore:
    """Photos as files in a local folder (created on the first write)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, area: str, key: str) -> Path:
        if area not in AREAS:
            raise ValueError(f"unknown photo area {area!r}")
        if not is_key(key):
            raise ValueError(f"not a photo key: {key!r}")
        return self.root / area / key[:2] / key

    def put(self, area: str, data: bytes) -> tuple[str, bool]:
        key = sha256(data)
        path = self._path(area, key)
        if path.exists():
            return key, False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{_TMP_PREFIX}{key}-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return key, True

    def get(self, area: str, key: str) -> bytes | None:
        try:
            return self._path(area, key).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, area: str, key: str) -> bool:
        return self._path(area, key).exists()

    def delete(self, area: str, key: str) -> None:
        self._path(area, key).unlink(missing_ok=True)

    def keys(self, area: str, older_than_s: float = 0) -> Iterator[str]:
        folder = self.root / area
        if area not in AREAS or not folder.is_dir():
            return
        limit = time.time() - older_than_s
        for path in folder.glob("??/*"):
            try:
                stale = path.stat().st_mtime <= limit
            except FileNotFoundError:
                continue
            if path.name.startswith(_TMP_PREFIX):
                if stale:  # a write that never finished (the process died)
                    path.unlink(missing_ok=True)
            elif stale and is_key(path.name):
                yield path.name


def store_from_settings(settings: Settings) -> PhotoStore:
    """The configured store: GEO311_PHOTO_DIR, or `photos/` in the data folder."""
    return LocalPhotoStore(settings.photo_dir or settings.data_dir / "photos")
