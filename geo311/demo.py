"""The Portland demo: boundaries, districts and categories from geo311/data/portland/demo.yaml."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import orjson
import yaml
from sqlalchemy.orm import Session

from geo311.address_loader import addresses_loaded, load_addresses
from geo311.boundaries import load_jurisdiction, load_layer
from geo311.categories import load_categories
from geo311.settings import PACKAGE_DIR

DEMO_DIR = PACKAGE_DIR / "data" / "portland"


def load_demo(session: Session, say: Callable[[str], None] = print, folder: Path = DEMO_DIR,
              addresses: bool | None = None) -> None:
    """Load everything the manifest names. Each load replaces what it loaded before, so running it
    again leaves the same data. The address points (436,439 rows, some seconds) load when
    `addresses` is True, or when None and none are loaded yet."""
    manifest = yaml.safe_load((folder / "demo.yaml").read_text())
    for j in manifest["jurisdictions"]:
        where = (j["where"]["field"], j["where"]["value"]) if "where" in j else None
        summary = load_jurisdiction(session, folder / j["file"], name=j["name"], kind=j["kind"], where=where)
        for line in summary.lines():
            say(line)
    for lay in manifest["layers"]:
        labels = orjson.loads((folder / lay["labels"]).read_bytes()) if "labels" in lay else None
        summary = load_layer(
            session, folder / lay["file"], layer=lay["layer"], title=lay.get("title"),
            name_field=lay["name_field"], code_field=lay.get("code_field"),
            dissolve=lay.get("dissolve", False), labels=labels,
        )
        for line in summary.lines():
            say(line)
    counts = load_categories(session, folder / manifest["categories"])
    say("categories: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if "addresses" in manifest and (addresses or (addresses is None and not addresses_loaded(session))):
        spec = manifest["addresses"]
        summary = load_addresses(session, folder / spec["file"], inside_jurisdictions=spec.get("inside_jurisdictions", False),
                                 refused_path=Path(tempfile.gettempdir()) / "geo311-demo-addresses.refused.csv")
        for line in summary.lines():
            say(line)
