"""Geocoding on the SE Division/Hawthorne address sample (loaded by conftest), and its loader."""

from __future__ import annotations

import csv
import gzip
import random

import pytest
from sqlalchemy import text

from geo311.address_loader import load_addresses
from geo311.errors import InvalidInput
from geo311.geocoding import clear_best, geocode, reverse
from geo311.intake import NewSubmission, submit
from geo311.reports import get_report_feature
from tests.conftest import ADDRESS_SAMPLE

ROWS = list(csv.DictReader(ADDRESS_SAMPLE.open()))
DIVISION_1101 = next(r for r in ROWS if r["NUMBER"] == "1101" and r["STREET"] == "Southeast Division Street")
CHAVEZ = next(r for r in ROWS if "Chávez" in r["STREET"])


def top(session, q):
    found = geocode(session, q)["candidates"]
    return found[0] if found else None


@pytest.mark.parametrize("typed", [
    "1101 SE Division St", "1101 se division st", "  1101   SE   Division    St  ", "1101 SE Division",
    "1101 Southeast Division Street", "1101 SE Divison St", "1101 SE Division St Apt 4", "1101 SE Division St #4",
    "1101 S.E. Division St.",
])
def test_people_type_it_many_ways(session, typed):
    best = top(session, typed)
    assert best["address"] == "1101 Southeast Division Street"
    assert (best["lon"], best["lat"]) == pytest.approx((float(DIVISION_1101["LON"]), float(DIVISION_1101["LAT"])))
    assert best["match"] in ("exact", "fuzzy")


def test_exact_match_says_so(session):
    best = top(session, "1101 SE Division St")
    assert best["match"] == "exact" and best["score"] == 1.0


def test_accents_typed_without_accents(session):
    best = top(session, f"{CHAVEZ['NUMBER']} SE Cesar E Chavez Blvd")
    assert best["address"] == f"{CHAVEZ['NUMBER']} Southeast César E. Chávez Boulevard" and best["match"] == "exact"


def test_real_addresses_round_trip(session):
    """A random sample of the file's own addresses, abbreviated as people write them."""
    rng = random.Random(9)
    for row in rng.sample([r for r in ROWS if r["NUMBER"].isdigit()], 40):
        typed = (f"{row['NUMBER']} {row['STREET']}".replace("Southeast", "SE").replace(" Street", " St")
                 .replace(" Avenue", " Ave").replace(" Boulevard", " Blvd").lower())
        best = top(session, typed)
        assert best is not None and best["number"] == int(row["NUMBER"]), typed
        assert best["address"] == f"{row['NUMBER']} {row['STREET']}", typed


def test_lettered_and_fractional_numbers(session):
    lettered = next(r for r in ROWS if r["NUMBER"] == "1815 A")
    best = top(session, f"1815 A {lettered['STREET']}")
    assert best["address"] == f"1815 A {lettered['STREET']}" and best["match"] == "exact"


def test_nearest_number_on_the_right_street(session):
    numbers = sorted(int(r["NUMBER"]) for r in ROWS if r["STREET"] == "Southeast Hawthorne Boulevard" and r["NUMBER"].isdigit())
    gap_from = next(n for a, n in zip(numbers, numbers[1:], strict=False) if n - a > 60)
    wanted = gap_from - 20  # no such number: the nearest one on Hawthorne
    best = top(session, f"{wanted} SE Hawthorne Blvd")
    assert best["match"] == "nearest_number" and best["street"] == "SE HAWTHORNE BLVD"
    assert best["number_gap"] == min(abs(n - wanted) for n in numbers)


def test_a_street_that_does_not_exist_is_a_clear_miss(session):
    result = geocode(session, "1234 SE Nonexistent Street")
    assert result["candidates"] == [] and "no address" in result["message"]
    far = geocode(session, "99999 SE Division St")  # the street exists, the number is far from any
    assert far["candidates"] == []
    assert geocode(session, "SE Division St")["candidates"] == []  # no house number: says so
    with pytest.raises(InvalidInput):
        geocode(session, " ")


def test_missing_directional_lists_every_match_ranked(session):
    session.execute(text(
        "INSERT INTO address_streets (predir, name, suffix, postdir, addresses) VALUES ('NE', 'DIVISION', 'ST', '', 1)"))
    session.execute(text(
        "INSERT INTO addresses (street_id, number, label, location) SELECT id, 1101, '1101 Northeast Division Street', "
        "ST_SetSRID(ST_MakePoint(-122.6, 45.53), 4326) FROM address_streets WHERE predir = 'NE' AND name = 'DIVISION'"))
    both = geocode(session, "1101 Division St")
    assert {c["street"] for c in both["candidates"][:2]} == {"SE DIVISION ST", "NE DIVISION ST"}
    assert clear_best(both) is None  # ambiguous: intake will ask
    assert top(session, "1101 NE Division St")["street"] == "NE DIVISION ST"


def test_reverse_to_known_points(session):
    for row in random.Random(4).sample(ROWS, 20):
        found = reverse(session, float(row["LON"]), float(row["LAT"]))
        assert found["distance_m"] < 0.5 and found["address"].startswith(row["NUMBER"])
    near = reverse(session, float(DIVISION_1101["LON"]) + 0.0001, float(DIVISION_1101["LAT"]))
    assert 5 < near["distance_m"] < 12


def test_duplicates_become_one_candidate_at_their_centroid(session, tmp_path):
    path = tmp_path / "dups.csv.gz"
    lon, lat = float(DIVISION_1101["LON"]), float(DIVISION_1101["LAT"])
    with gzip.open(path, "wt", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["LON", "LAT", "NUMBER", "STREET", "CITY", "POSTCODE"])
        for d in (0.0, 0.0002, 0.0004):
            w.writerow([lon + d, lat, "1101", "Southeast Division Street", "Portland", "97202"])
    load_addresses(session, path)
    best = top(session, "1101 SE Division St")
    assert best["buildings"] == 3 and best["lon"] == pytest.approx(lon + 0.0002)


# ----- address-only intake ------------------------------------------------------------------
def test_address_only_report_lands_on_the_address(session):
    sub = NewSubmission(None, None, "graffiti", {"address_only": True}, address="1101 se division st")
    result = submit(session, sub)
    feature = get_report_feature(session, result.report_id)
    assert feature["geometry"]["coordinates"] == pytest.approx([float(DIVISION_1101["LON"]), float(DIVISION_1101["LAT"])], abs=1e-6)
    assert feature["properties"]["address"] == "1101 se division st"
    assert feature["properties"]["matched_address"] == "1101 Southeast Division Street"


def test_ambiguous_or_unknown_address_is_a_422_with_candidates(session):
    session.execute(text(
        "INSERT INTO address_streets (predir, name, suffix, postdir, addresses) VALUES ('NE', 'DIVISION', 'ST', '', 1)"))
    session.execute(text(
        "INSERT INTO addresses (street_id, number, label, location) SELECT id, 1101, '1101 Northeast Division Street', "
        "ST_SetSRID(ST_MakePoint(-122.6, 45.53), 4326) FROM address_streets WHERE predir = 'NE' AND name = 'DIVISION'"))
    before = session.execute(text("SELECT count(*) FROM reports")).scalar()
    with pytest.raises(InvalidInput) as err:
        submit(session, NewSubmission(None, None, "graffiti", {}, address="1101 Division St"))
    assert err.value.code == "ambiguous_address" and len(err.value.details["candidates"]) >= 2
    with pytest.raises(InvalidInput) as err:
        submit(session, NewSubmission(None, None, "graffiti", {}, address="12 Nowhere Lane"))
    assert err.value.code == "address_not_found"
    with pytest.raises(InvalidInput, match="give the place"):
        submit(session, NewSubmission(None, None, "graffiti", {}))
    assert session.execute(text("SELECT count(*) FROM reports")).scalar() == before


# ----- the loader -----------------------------------------------------------------------------
def test_loader_refuses_bad_rows_with_reasons_and_keeps_the_rest(session, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes("\ufeffLON,LAT,NUMBER,STREET,NOTE\n".encode() + (
        b'-122.65,45.50,10,Southeast Main Street,"a note\nwith a newline"\n'
        b"-122.65,45.50,,Southeast Main Street,no number\n"
        b"x,45.50,12,Southeast Main Street,bad lon\n"
        b"-122.65,145.50,14,Southeast Main Street,lat out of range\n"
        b"-122.65,45.50,16,,no street\n"
        b"\n"
        b"-122.65,45.50,18 1/2,Southeast Main Street,fraction\n"))
    refused = tmp_path / "refused.csv"
    summary = load_addresses(session, path, mapping={"lon": "LON", "lat": "LAT", "number": "NUMBER", "street": "STREET"},
                             refused_path=refused)
    assert summary.loaded == 2 and sum(summary.refused.values()) == 4
    assert set(summary.refused) == {"house number missing or not a number", "coordinates missing or not numbers",
                                    "coordinates out of range", "street missing"}
    rows = list(csv.DictReader(refused.open()))
    assert len(rows) == 4 and all(r["reason"] for r in rows)
    assert top(session, "18 1/2 SE Main St")["address"] == "18 1/2 Southeast Main Street"


def test_loader_refusals_replace_nothing(session, tmp_path):
    before = session.execute(text("SELECT count(*) FROM addresses")).scalar()
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("X,Y\n1,2\n")
    with pytest.raises(InvalidInput, match="lacks"):
        load_addresses(session, bad_header)
    all_bad = tmp_path / "allbad.csv"
    all_bad.write_text("LON,LAT,NUMBER,STREET\nx,y,z,\n")
    with pytest.raises(InvalidInput, match="no usable address rows"):
        load_addresses(session, all_bad, refused_path=tmp_path / "r.csv")
    with pytest.raises(InvalidInput, match="the mapping needs"):
        load_addresses(session, all_bad, mapping={"lon": "LON"})
    assert session.execute(text("SELECT count(*) FROM addresses")).scalar() == before


def test_loader_keeps_points_inside_jurisdictions_only_when_asked(session, tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("LON,LAT,NUMBER,STREET\n-122.65,45.50,10,Southeast Main Street\n-122.66,45.64,10,Main Street\n")
    summary = load_addresses(session, path, inside_jurisdictions=True, refused_path=tmp_path / "r.csv")
    assert summary.loaded == 1 and summary.refused == {"outside every jurisdiction": 1}


def test_a_clean_file_with_a_bom_and_quoted_newlines_loads(session, tmp_path):
    path = tmp_path / "clean.csv"
    path.write_bytes("\ufeffLON,LAT,NUMBER,STREET,NOTE\n".encode() +
                     b'-122.65,45.50,10,Southeast Main Street,"two\nlines"\n-122.66,45.50,12,Southeast Main Street,x\n')
    summary = load_addresses(session, path, mapping={"lon": "LON", "lat": "LAT", "number": "NUMBER", "street": "STREET"},
                             refused_path=tmp_path / "r.csv")
    assert (summary.read, summary.loaded, sum(summary.refused.values())) == (2, 2, 0)
    assert top(session, "12 SE Main St")["address"] == "12 Southeast Main Street"
