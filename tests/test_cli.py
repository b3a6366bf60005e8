"""The CLI through Typer's test runner, on the run's database (rolled back after each test)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from geo311.cli import Runtime, app
from geo311.demo import DEMO_DIR
from geo311.settings import Settings
from tests.conftest import FIXTURES


@pytest.fixture
def cli(settings, session_factory):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), obj=Runtime(settings, session_factory=session_factory))
    return invoke


def test_boundaries_list(cli):
    result = cli("boundaries", "list")
    assert result.exit_code == 0, result.output
    assert "City of Portland" in result.output and "Multnomah County" in result.output
    assert "98 districts" in result.output and "4 districts" in result.output


def test_boundaries_load_layer_and_jurisdiction(cli):
    result = cli("boundaries", "load", str(FIXTURES / "boundaries" / "seattle_city-council-districts.geojson"),
                 "--layer", "seattle_council", "--name-field", "district")
    assert result.exit_code == 0, result.output
    assert "layer 'seattle_council': read 7, loaded 7" in result.output
    result = cli("boundaries", "load", str(FIXTURES / "boundaries" / "seattle_city-limits.geojson"),
                 "--jurisdiction", "Seattle", "--kind", "city")
    assert result.exit_code == 0 and "read 29, loaded 29" in result.output
    assert "Seattle" in cli("boundaries", "list").output


def test_boundaries_load_with_where_and_labels(cli, tmp_path):
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"1": "District One"}))
    result = cli("boundaries", "load", str(DEMO_DIR / "portland_council_districts_2024_raw.geojson"),
                 "--layer", "one_district", "--name-field", "DISTRICT", "--where", "DISTRICT=1",
                 "--labels", str(labels))
    assert result.exit_code == 0, result.output
    assert "loaded 1" in result.output and "repaired 1" in result.output and "skipped 3" in result.output
    assert "District One" in result.output


def test_boundaries_load_refusal_is_a_message_not_a_traceback(cli):
    result = cli("boundaries", "load", str(FIXTURES / "boundaries" / "seattle_city-limits.geojson"),
                 "--layer", "seattle", "--name-field", "NAME")
    assert result.exit_code == 1
    assert "error:" in result.output and "name field 'NAME'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, message", [
    (["--layer", "x"], "--name-field"),
    (["--jurisdiction", "X"], "--kind"),
    ([], "either --jurisdiction"),
    (["--layer", "x", "--jurisdiction", "X"], "either --jurisdiction"),
    (["--layer", "x", "--name-field", "NAME", "--where", "NAME"], "FIELD=VALUE"),
])
def test_boundaries_load_usage_errors(cli, args, message):
    result = cli("boundaries", "load", str(DEMO_DIR / "portland_neighborhoods_2020.geojson"), *args)
    assert result.exit_code == 2 and message in result.output


def test_categories_load_and_list(cli, tmp_path):
    result = cli("categories", "load", str(DEMO_DIR / "categories.yaml"))
    assert result.exit_code == 0 and "created 0, updated 8" in result.output
    listing = cli("categories", "list").output
    assert "campsite" in listing and "PBOT Street Lighting" in listing
    bad = tmp_path / "bad.yaml"
    bad.write_text("categories:\n  - code: x\n")
    result = cli("categories", "load", str(bad))
    assert result.exit_code == 1 and "problem(s)" in result.output


def test_demo_load_twice_leaves_the_same_data(cli):
    first = cli("boundaries", "list").output
    for _ in range(2):
        result = cli("demo", "load")
        assert result.exit_code == 0, result.output
        assert "repaired 2" in result.output
    assert cli("boundaries", "list").output == first


def test_db_commands_refuse_when_an_external_database_is_configured(settings, session_factory):
    external = Settings(database_url="postgresql://u@example.invalid/db", data_dir=settings.data_dir)
    result = CliRunner().invoke(app, ["db", "start"], obj=Runtime(external, session_factory=session_factory))
    assert result.exit_code == 2 and "GEO311_DATABASE_URL is set" in result.output


def test_seed_if_empty(cli):
    first = cli("seed", "--reports", "30", "--if-empty")
    assert first.exit_code == 0 and "seeded 30 submissions" in first.output
    again = cli("seed", "--reports", "30", "--if-empty")
    assert again.exit_code == 0 and "not seeding" in again.output
