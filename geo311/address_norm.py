"""Address normalization, the same for stored and typed addresses.

"4129 SE McLoughlin Blvd Apt 3" and "4129 Southeast Mcloughlin Boulevard" both become
number 4129, predir SE, name MCLOUGHLIN, suffix BLVD (unit APT 3 split off). Upper case, no accents
or punctuation, USPS directionals and street suffixes, ordinals ("82" -> "82ND" before a suffix),
fractional and lettered house numbers ("1610 1/2", "7212 A", "1570-A").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

DIRECTIONALS = {
    "N": "N", "NORTH": "N", "S": "S", "SOUTH": "S", "E": "E", "EAST": "E", "W": "W", "WEST": "W",
    "NE": "NE", "NORTHEAST": "NE", "NW": "NW", "NORTHWEST": "NW", "SE": "SE", "SOUTHEAST": "SE",
    "SW": "SW", "SOUTHWEST": "SW",
}
# USPS Publication 28 suffixes (the common ones and their usual spellings)
SUFFIXES = {
    "ALLEY": "ALY", "ALY": "ALY", "AVENUE": "AVE", "AVE": "AVE", "AV": "AVE", "AVN": "AVE", "BOULEVARD": "BLVD",
    "BLVD": "BLVD", "BLV": "BLVD", "BL": "BLVD", "CIRCLE": "CIR", "CIR": "CIR", "CIRCLES": "CIRS", "COURT": "CT",
    "CT": "CT", "CRT": "CT", "COVE": "CV", "CV": "CV", "CRESCENT": "CRES", "CRES": "CRES", "CREEK": "CRK",
    "CROSSING": "XING", "XING": "XING", "DRIVE": "DR", "DR": "DR", "DRV": "DR", "EXPRESSWAY": "EXPY", "EXPY": "EXPY",
    "FREEWAY": "FWY", "FWY": "FWY", "HIGHWAY": "HWY", "HWY": "HWY", "HEIGHTS": "HTS", "HTS": "HTS", "HILL": "HL",
    "HL": "HL", "LANE": "LN", "LN": "LN", "LOOP": "LOOP", "PARKWAY": "PKWY", "PKWY": "PKWY", "PKY": "PKWY",
    "PATH": "PATH", "PIKE": "PIKE", "PLACE": "PL", "PL": "PL", "PLAZA": "PLZ", "PLZ": "PLZ", "POINT": "PT",
    "PT": "PT", "RIDGE": "RDG", "RDG": "RDG", "ROAD": "RD", "RD": "RD", "ROW": "ROW", "RUN": "RUN",
    "SQUARE": "SQ", "SQ": "SQ", "STREET": "ST", "ST": "ST", "STR": "ST", "TERRACE": "TER", "TER": "TER",
    "TERR": "TER", "TRAIL": "TRL", "TRL": "TRL", "VIEW": "VW", "VW": "VW", "VISTA": "VIS", "VIS": "VIS",
    "WALK": "WALK", "WAY": "WAY", "WY": "WAY",
}
UNIT_WORDS = {"APT", "APARTMENT", "UNIT", "STE", "SUITE", "SPC", "SPACE", "BLDG", "BUILDING", "FL", "FLOOR",
              "RM", "ROOM", "LOT", "TRLR", "#"}
WORD_ORDINALS = {w: _n for _n, w in enumerate(
    "FIRST SECOND THIRD FOURTH FIFTH SIXTH SEVENTH EIGHTH NINTH TENTH ELEVENTH TWELFTH THIRTEENTH FOURTEENTH "
    "FIFTEENTH SIXTEENTH SEVENTEENTH EIGHTEENTH NINETEENTH TWENTIETH".split(), start=1)}
_ORDINAL = re.compile(r"^(\d+)(ST|ND|RD|TH)?$")
# a house number has at most six digits (the address points' number is an int4; a longer run of
# digits typed in the search box is not a house number, and 20 of them overflowed JSON's integers)
_NUMBER = re.compile(r"^(\d{1,6})(?:-?([A-Z]))?$")
_FRACTION = re.compile(r"^\d/\d$")


@dataclass(frozen=True)
class Address:
    number: int | None = None
    number_suffix: str = ""  # "A", "1/2"
    predir: str = ""
    name: str = ""  # the street's own name: "DIVISION", "CESAR E CHAVEZ", "82ND"
    suffix: str = ""  # ST, AVE, BLVD ...
    postdir: str = ""
    unit: str = ""

    @property
    def street(self) -> str:
        return " ".join(p for p in (self.predir, self.name, self.suffix, self.postdir) if p)

    @property
    def house(self) -> str:
        if self.number is None:
            return ""
        return f"{self.number}{' ' + self.number_suffix if self.number_suffix else ''}"

    def __str__(self) -> str:
        return " ".join(p for p in (self.house, self.street, self.unit) if p)


def clean(text: str) -> str:
    """Upper case, accents off ("Chávez" -> "CHAVEZ"), punctuation to spaces (keeping / and #)."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).upper()
    text = text.replace(".", "").replace("'", "")
    text = re.sub(r"#\s*", " # ", text)
    return re.sub(r"[^A-Z0-9/# -]+", " ", text).replace(" - ", " ").strip()


def _ordinal(token: str) -> str:
    """"82" and "82ND" -> "82ND"; "FOURTH" -> "4TH"."""
    if token in WORD_ORDINALS:
        n = WORD_ORDINALS[token]
    elif m := _ORDINAL.match(token):
        n = int(m.group(1))
    else:
        return token
    end = "TH" if 10 <= n % 100 <= 20 else {1: "ST", 2: "ND", 3: "RD"}.get(n % 10, "TH")
    return f"{n}{end}"


@lru_cache(maxsize=65536)
def parse_street(text: str) -> tuple[str, str, str, str]:
    """(predir, name, suffix, postdir) of a street: "Southeast Division Street" -> ("SE", "DIVISION", "ST", "")."""
    tokens = clean(text).split()
    predir = postdir = suffix = ""
    if len(tokens) > 1 and tokens[0] in DIRECTIONALS:
        predir = DIRECTIONALS[tokens.pop(0)]
    if len(tokens) > 1 and tokens[-1] in DIRECTIONALS:
        postdir = DIRECTIONALS[tokens.pop()]
    if len(tokens) > 1 and tokens[-1] in SUFFIXES:
        suffix = SUFFIXES[tokens.pop()]
    if suffix and tokens:  # "SE 82 Ave" -> 82ND
        tokens[-1] = _ordinal(tokens[-1]) if len(tokens) == 1 else tokens[-1]
    elif len(tokens) == 1:
        tokens[0] = _ordinal(tokens[0])
    return predir, " ".join(tokens), suffix, postdir


def parse_number(text: str) -> tuple[int | None, str]:
    """House number and its suffix: "1610 1/2" -> (1610, "1/2"); "1570-A" -> (1570, "A")."""
    parts = clean(text).replace("-", " ").split()
    if not parts:
        return None, ""
    m = _NUMBER.match(parts[0])
    if not m:
        return None, ""
    suffix = m.group(2) or ""
    if len(parts) > 1 and (_FRACTION.match(parts[1]) or (len(parts[1]) == 1 and parts[1].isalpha())):
        suffix = parts[1]
    return int(m.group(1)), suffix


def parse(text: str) -> Address:
    """A typed address: house number (with its suffix), street, unit split off."""
    tokens = clean(text).split()
    unit = ""
    for i, tok in enumerate(tokens):
        if tok in UNIT_WORDS and i > 0:
            unit = " ".join(tokens[i:]).replace("# ", "#")
            tokens = tokens[:i]
            break
    number, number_suffix = None, ""
    if tokens:
        m = _NUMBER.match(tokens[0].replace("-", ""))
        if m:
            number, number_suffix = int(m.group(1)), m.group(2) or ""
            tokens = tokens[1:]
            if tokens and _FRACTION.match(tokens[0]):
                number_suffix = tokens.pop(0)
            elif len(tokens) > 1 and len(tokens[0]) == 1 and tokens[0].isalpha() and tokens[0] not in DIRECTIONALS:
                number_suffix = tokens.pop(0)
    predir, name, suffix, postdir = parse_street(" ".join(tokens)) if tokens else ("", "", "", "")
    return Address(number, number_suffix, predir, name, suffix, postdir, unit)
