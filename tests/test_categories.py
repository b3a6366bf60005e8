"""The category loader: the demo set, upserts, routes, and refusals that load nothing."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import select, text

from geo311.categories import (
    CategoryFileError,
    list_categories,
    load_categories,
    read_category_file,
)
from geo311.demo import DEMO_DIR
from geo311.models import Category

REQUIRED = {"campsite", "campsite_cleanup", "abandoned_vehicle", "illegally_parked_vehicle",
            "illegal_dumping", "graffiti", "pothole", "streetlight_out"}


def write_yaml(tmp_path, doc) -> str:
    path = tmp_path / "categories.yaml"
    path.write_text(yaml.safe_dump(doc) if not isinstance(doc, str) else doc)
    return str(path)


def one(code="test_cat", **overrides):
    cat = {"code": code, "name": "Test", "dedup": {"radius_m": 10, "window_days": 7}, "priority": 2,
           "target_days": 5, "routes": [{"jurisdiction": "City of Portland", "agency": "Test Bureau"}]}
    cat.update(overrides)
    return cat


def counts(session):
    return session.execute(text(
        "SELECT (SELECT count(*) FROM categories), (SELECT count(*) FROM category_routes), "
        "(SELECT count(*) FROM categories WHERE active)")).one()


def test_demo_set_has_the_required_categories_with_fitting_rules(session):
    cats = {c["code"]: c for c in list_categories(session)}
    assert REQUIRED <= set(cats)
    # a campsite spreads: tens of metres, weeks; a pothole: a few metres, months; a car: a car length, weeks
    assert 20 <= cats["campsite"]["dedup_radius_m"] <= 100 and 7 <= cats["campsite"]["dedup_window_days"] <= 60
    assert cats["pothole"]["dedup_radius_m"] <= 6 and cats["pothole"]["dedup_window_days"] >= 60
    assert 4 <= cats["abandoned_vehicle"]["dedup_radius_m"] <= 10
    assert 7 <= cats["abandoned_vehicle"]["dedup_window_days"] <= 35


def test_demo_routes_some_county_wide_and_some_city_only(session):
    cats = {c["code"]: {r["jurisdiction"] for r in c["routes"]} for c in list_categories(session)}
    assert cats["graffiti"] == {"City of Portland"}
    assert cats["illegally_parked_vehicle"] == {"City of Portland"}
    assert cats["abandoned_vehicle"] == {"City of Portland", "Multnomah County"}
    assert cats["illegal_dumping"] == {"City of Portland", "Multnomah County"}


def test_attribute_definitions_are_stored_in_order(session):
    campsite = session.scalars(select(Category).where(Category.code == "campsite")).one()
    assert [a["code"] for a in campsite.attributes] == ["tents", "blocking", "hazards"]
    assert [a["order"] for a in campsite.attributes] == [1, 2, 3]
    assert campsite.attributes[2]["datatype"] == "multivaluelist" and len(campsite.attributes[2]["values"]) == 4


def test_reload_is_idempotent(session):
    before = counts(session)
    result = load_categories(session, DEMO_DIR / "categories.yaml")
    assert result["created"] == 0 and result["updated"] == len(REQUIRED)
    assert counts(session) == before


def test_update_and_deactivate(session, tmp_path):
    doc = {"categories": [one("campsite", name="Camp", dedup={"radius_m": 99, "window_days": 3})]}
    result = load_categories(session, write_yaml(tmp_path, doc))
    assert result["updated"] == 1 and result["deactivated"] == len(REQUIRED) - 1
    camp = session.scalars(select(Category).where(Category.code == "campsite")).one()
    assert (camp.name, camp.dedup_radius_m, camp.dedup_window) == ("Camp", 99, timedelta(days=3))
    assert [c["code"] for c in list_categories(session, active_only=True)] == ["campsite"]


REFUSALS = {
    "unknown jurisdiction": ({"categories": [one(routes=[{"jurisdiction": "Atlantis", "agency": "x"}])]},
                             "not loaded: Atlantis"),
    "duplicate code": ({"categories": [one("a_cat"), one("a_cat")]}, "category codes repeat: a_cat"),
    "bad code": ({"categories": [one("Bad Code")]}, "code"),
    "radius too large": ({"categories": [one(dedup={"radius_m": 5000, "window_days": 1})]},
                         r"test_cat\.dedup\.radius_m"),
    "no routes": ({"categories": [one(routes=[])]}, r"test_cat\.routes"),
    "list without values": ({"categories": [one(attributes=[{"code": "k", "description": "d",
                                                            "datatype": "singlevaluelist"}])]}, "needs `values`"),
    "unknown field": ({"categories": [one(colour="red")]}, r"test_cat\.colour"),
    "priority out of range": ({"categories": [one(priority=9)]}, r"test_cat\.priority"),
    "empty": ({"categories": []}, "categories"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_load_nothing(session, tmp_path, case):
    doc, message = REFUSALS[case]
    before = counts(session)
    with pytest.raises(CategoryFileError, match=message):
        load_categories(session, write_yaml(tmp_path, doc))
    assert counts(session) == before


def test_bad_yaml_and_json_are_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("categories: [unclosed")
    with pytest.raises(CategoryFileError, match="not valid YAML"):
        read_category_file(path)
    path = tmp_path / "c.json"
    path.write_text('{"categories": ')
    with pytest.raises(CategoryFileError, match="not valid JSON"):
        read_category_file(path)


def test_json_files_load_too(session, tmp_path):
    import json

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"categories": [one("json_cat")]}))
    assert load_categories(session, path)["created"] == 1


def test_problems_are_all_listed(tmp_path):
    doc = textwrap.dedent("""
        categories:
          - code: a
            name: A
            dedup: {radius_m: -1, window_days: 0}
            priority: 0
            target_days: 1
            routes: [{jurisdiction: City of Portland, agency: X}]
    """)
    with pytest.raises(CategoryFileError) as err:
        read_category_file(write_yaml(tmp_path, doc))
    assert len(err.value.details) == 3 and "a.priority" in err.value.message
