"""`geo311 ...`: the command line (Typer). Each command parses, then calls one domain function."""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import orjson
import typer
from sqlalchemy.orm import Session, sessionmaker

from geo311.embedded import Cluster, EmbeddedDatabaseError
from geo311.errors import DomainError
from geo311.i18n_cli import i18n_app
from geo311.settings import Settings, get_settings

app = typer.Typer(help="geo311: an open geospatial 311 service on PostGIS.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="The database: the embedded cluster and migrations.", no_args_is_help=True)
boundaries_app = typer.Typer(help="Jurisdictions and district layers.", no_args_is_help=True)
categories_app = typer.Typer(help="Report categories and their routes.", no_args_is_help=True)
demo_app = typer.Typer(help="The Portland demo data.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: resident, crew, manager, admin.", no_args_is_help=True)
crews_app = typer.Typer(help="Field crews: areas, categories, yards.", no_args_is_help=True)
addresses_app = typer.Typer(help="Address points for geocoding.", no_args_is_help=True)
rollups_app = typer.Typer(help="The managers' rollups: heat cells, daily stats, district days.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(crews_app, name="crews")
app.add_typer(addresses_app, name="addresses")
app.add_typer(boundaries_app, name="boundaries")
app.add_typer(categories_app, name="categories")
app.add_typer(demo_app, name="demo")
app.add_typer(rollups_app, name="rollups")
app.add_typer(i18n_app, name="i18n")


@dataclass
class Runtime:
    """What commands share: settings and a session factory (tests hand in their own)."""

    settings: Settings
    session_factory: sessionmaker[Session] | None = None
    _engine: object = field(default=None, repr=False)

    def session(self) -> Session:
        if self.session_factory is None:
            from geo311.db import make_engine, make_sessionmaker

            self._engine = make_engine(self.settings)
            self.session_factory = make_sessionmaker(self._engine)
        return self.session_factory()


@app.callback()
def _root(ctx: typer.Context) -> None:
    if ctx.obj is None:
        ctx.obj = Runtime(get_settings())


def _rt(ctx: typer.Context) -> Runtime:
    return ctx.obj


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _guard(fn):
    """Turn the errors a person can act on into a message and exit code 1 (no traceback)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (DomainError, EmbeddedDatabaseError) as exc:
            _fail(str(exc))
    return wrapper


def _parse_where(where: str | None) -> tuple[str, str] | None:
    if not where:
        return None
    if "=" not in where:
        _fail(f"--where takes FIELD=VALUE, got {where!r}", 2)
    field_, value = where.split("=", 1)
    return field_.strip(), value.strip()


# ----- db ---------------------------------------------------------------------------------
def _embedded(rt: Runtime) -> Cluster:
    if not rt.settings.uses_embedded_database:
        _fail("GEO311_DATABASE_URL is set: geo311 uses that server and does not manage it", 2)
    return Cluster(rt.settings)


@db_app.command("start")
@_guard
def db_start(ctx: typer.Context, replicas: Annotated[int, typer.Option(
        min=0, max=9, help="make sure this many streaming read replicas exist (on the next ports); "
                           "replicas made before start anyway")] = 0) -> None:
    """Start the embedded PostgreSQL + PostGIS (installing and creating it the first time)."""
    from geo311.standby import standbys

    cluster = _embedded(_rt(ctx))
    cluster.start(replicas=replicas)
    typer.echo(f"embedded PostGIS running on 127.0.0.1:{cluster.port} (cluster {cluster.path})")
    for standby in standbys(cluster):
        typer.echo(f"read replica {standby.n} streaming on 127.0.0.1:{standby.port} (cluster {standby.path}); "
                   "geo311 reads from it unless GEO311_REPLICA_URLS says otherwise")


@db_app.command("stop")
@_guard
def db_stop(ctx: typer.Context) -> None:
    """Stop the embedded database."""
    stopped = _embedded(_rt(ctx)).stop()
    typer.echo("stopped" if stopped else "not running")


@db_app.command("status")
@_guard
def db_status(ctx: typer.Context) -> None:
    """Show the database geo311 uses and whether it answers."""
    rt = _rt(ctx)
    if not rt.settings.uses_embedded_database:
        from geo311.db import database_health, make_replica_pool

        with rt.session() as s:
            info = {"database_url": "GEO311_DATABASE_URL", **database_health(s)}
            pool = make_replica_pool(rt.settings, s.get_bind())
            if pool:
                info["replicas"] = [st.as_dict() for st in pool.refresh()]
                pool.close()
            typer.echo(json.dumps(info, indent=2))
        return
    status = _embedded(rt).status()
    typer.echo(json.dumps(status, indent=2, default=str))
    if not status["running"]:
        raise typer.Exit(3)


@db_app.command("upgrade")
@_guard
def db_upgrade(ctx: typer.Context, revision: str = typer.Argument("heads")) -> None:
    """Migrate the database schema (to head by default). Starts the embedded database if needed."""
    from geo311 import migrate
    from geo311.db import database_url
    from geo311.imports import restore_abandoned_indexes

    rt = _rt(ctx)
    if rt.settings.uses_embedded_database:
        Cluster(rt.settings).start()
    url = database_url(rt.settings)
    with rt.session() as session:  # a migration may alter an index an import killed mid-way set aside
        built = restore_abandoned_indexes(session)
    if built:
        typer.echo(f"built the indexes a killed import had set aside: {', '.join(built)}")
    migrate.upgrade(url, revision)
    typer.echo(f"schema at revision {migrate.current(url)}")


# ----- boundaries -------------------------------------------------------------------------
@boundaries_app.command("load")
@_guard
def boundaries_load(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="a GeoJSON file of Polygon/MultiPolygon features")],
    jurisdiction: Annotated[str | None, typer.Option(help="load the file as this jurisdiction's area")] = None,
    kind: Annotated[str | None, typer.Option(help="jurisdiction kind: city, county, region, state ...")] = None,
    rank: Annotated[int | None, typer.Option(help="specificity; default by kind (city 30, county 20)")] = None,
    layer: Annotated[str | None, typer.Option(help="load the file as district layer KEY (replaces it)")] = None,
    name_field: Annotated[str | None, typer.Option(help="property holding each district's name")] = None,
    code_field: Annotated[str | None, typer.Option(help="property holding each district's code")] = None,
    title: Annotated[str | None, typer.Option(help="the layer's display title")] = None,
    dissolve: Annotated[bool, typer.Option(help="merge features that share a name into one district")] = False,
    labels: Annotated[Path | None, typer.Option(help="JSON object: raw name -> display name")] = None,
    where: Annotated[str | None, typer.Option(help="load only features with FIELD=VALUE")] = None,
    split_names: Annotated[str | None, typer.Option(
        help="separator of shared areas' names ('A/B' joins districts A and B, which then overlap)")] = None,
) -> None:
    """Load a jurisdiction (--jurisdiction NAME --kind KIND) or a district layer (--layer KEY --name-field F)."""
    from geo311.boundaries import load_jurisdiction, load_layer

    if bool(jurisdiction) == bool(layer):
        _fail("give either --jurisdiction NAME --kind KIND, or --layer KEY --name-field FIELD", 2)
    where_pair = _parse_where(where)
    with _rt(ctx).session() as session:
        if jurisdiction:
            if not kind:
                _fail("--jurisdiction needs --kind (city, county, region ...)", 2)
            summary = load_jurisdiction(session, file, name=jurisdiction, kind=kind, rank=rank, where=where_pair)
        else:
            if not name_field:
                _fail("--layer needs --name-field: the property that names each district", 2)
            label_map = None
            if labels:
                try:
                    label_map = orjson.loads(labels.read_bytes())
                except (OSError, orjson.JSONDecodeError) as exc:
                    _fail(f"cannot read labels {labels}: {exc}")
            summary = load_layer(session, file, layer=layer, name_field=name_field, code_field=code_field,
                                 title=title, dissolve=dissolve, labels=label_map, where=where_pair,
                                 split_names=split_names)
    for line in summary.lines():
        typer.echo(line)


@boundaries_app.command("list")
@_guard
def boundaries_list(ctx: typer.Context) -> None:
    """Jurisdictions and district layers, with their feature counts."""
    from geo311.boundaries import list_boundaries

    with _rt(ctx).session() as session:
        data = list_boundaries(session)
    typer.echo("jurisdictions:")
    for j in data["jurisdictions"]:
        typer.echo(f"  {j['name']:<28} {j['kind']:<10} rank {j['rank']:<3} {j['area_km2']:>8} km²  {j['parts']} parts")
    typer.echo("district layers:")
    for lay in data["layers"]:
        typer.echo(f"  {lay['key']:<20} {lay['districts']:>4} districts  {lay['title']}")


# ----- categories -------------------------------------------------------------------------
@categories_app.command("load")
@_guard
def categories_load(ctx: typer.Context, file: Path) -> None:
    """Load the category set from a YAML or JSON file (upsert by code; missing ones go inactive)."""
    from geo311.categories import load_categories

    with _rt(ctx).session() as session:
        counts = load_categories(session, file)
    typer.echo("categories: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@categories_app.command("list")
@_guard
def categories_list(ctx: typer.Context, all_: Annotated[bool, typer.Option("--all")] = False) -> None:
    """Categories with their dedup rule and routes."""
    from geo311.categories import list_categories

    with _rt(ctx).session() as session:
        rows = list_categories(session, active_only=not all_)
    for c in rows:
        routes = "; ".join(f"{r['jurisdiction']}: {r['agency']}" for r in c["routes"])
        flag = "" if c["active"] else " (inactive)"
        typer.echo(f"{c['code']:<26} {c['dedup_radius_m']:>5g} m {c['dedup_window_days']:>4g} d  "
                   f"p{c['priority']}  {routes}{flag}")


# ----- rollups ----------------------------------------------------------------------------
@rollups_app.command("check")
@_guard
def rollups_check(ctx: typer.Context) -> None:
    """Compare every rollup with a fresh aggregation of the reports; exit 1 when one differs. Also
    says which import runs hold reports out of them (a running import, or one that was killed)."""
    from geo311.heatmaps import rollup_drift
    from geo311.import_rollups import held_reports

    with _rt(ctx).session() as session:
        drift = rollup_drift(session)
        held = held_reports(session)
    for table, rows in drift.items():
        typer.echo(f"{table}: {'exact' if not rows else f'{rows} rows differ'}")
    for run_id, source, status, n in held:
        typer.echo(f"import run {run_id} (source {source!r}, {status}) holds {n} reports out of the rollups"
                   + (" until it finishes" if status == "running" else ": `geo311 rollups apply` adds them"))
    if any(drift.values()):
        _fail("the rollups differ from the reports: `geo311 rollups rebuild` recomputes them")


@rollups_app.command("rebuild")
@_guard
def rollups_rebuild(ctx: typer.Context) -> None:
    """Recompute every rollup from the reports (one transaction)."""
    from geo311.heatmaps import rebuild_rollups

    with _rt(ctx).session() as session:
        counts = rebuild_rollups(session)
    typer.echo("rebuilt: " + ", ".join(f"{table} {n} rows" for table, n in counts.items()))


@rollups_app.command("apply")
@_guard
def rollups_apply(ctx: typer.Context) -> None:
    """Add to the rollups the reports of imports that stopped before they could (killed, or the
    database went away), and build the indexes they had set aside; imports still running are left
    to finish their own."""
    from geo311.imports import apply_abandoned, restore_abandoned_indexes

    with _rt(ctx).session() as session:
        applied = apply_abandoned(session)
        built = restore_abandoned_indexes(session)
    typer.echo(f"applied the held reports of import runs {', '.join(map(str, applied))}" if applied
               else "no import run holds reports out of the rollups, apart from running ones")
    if built:
        typer.echo(f"built the indexes they had set aside: {', '.join(built)}")


# ----- demo -------------------------------------------------------------------------------
@demo_app.command("load")
@_guard
def demo_load(ctx: typer.Context) -> None:
    """Load the Portland demo: both jurisdictions, three district layers and the categories."""
    from geo311.demo import load_demo

    with _rt(ctx).session() as session:
        load_demo(session, say=typer.echo)


@app.command()
@_guard
def seed(
    ctx: typer.Context,
    reports: Annotated[int, typer.Option(min=1, max=1_000_000, help="how many submissions to make")] = 3000,
    days: Annotated[int, typer.Option(min=1, help="spread them over this many past days")] = 180,
    random_seed: Annotated[int, typer.Option(help="the same seed gives the same demo")] = 311,
    if_empty: Annotated[bool, typer.Option(help="do nothing when reports exist (for set-up scripts)")] = False,
) -> None:
    """Demo reports through the real intake: clustered, all categories, months of history, merges."""
    from geo311.seed import has_reports, seed_reports

    with _rt(ctx).session() as session:
        if if_empty and has_reports(session):
            typer.echo("reports exist already; not seeding (drop --if-empty to add more)")
            return
        summary = seed_reports(session, reports, days=days, rng_seed=random_seed, say=typer.echo)
    typer.echo(summary.line())


# ----- keys -------------------------------------------------------------------------------
@keys_app.command("create")
@_guard
def keys_create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option(help="resident, crew, manager or admin")],
    crew: Annotated[str | None, typer.Option(help="the crew a crew key belongs to")] = None,
    label: Annotated[str, typer.Option(help="who or what the key is for")] = "",
) -> None:
    """Make a key. It is printed once and cannot be shown again: only its hash is stored."""
    from geo311.auth import create_key

    with _rt(ctx).session() as session:
        key_id, key = create_key(session, role, crew=crew, label=label)
    typer.echo(f"key id: {key_id} ({role}{', crew ' + crew if crew else ''})")
    typer.echo(key)
    typer.secho("store it now: it will not be shown again", err=True, fg=typer.colors.YELLOW)


@keys_app.command("list")
@_guard
def keys_list(ctx: typer.Context) -> None:
    """Keys with their role, crew, creation and last use (never the keys themselves)."""
    from geo311.auth import list_keys

    with _rt(ctx).session() as session:
        rows = list_keys(session)
    for k in rows:
        state = f"revoked {k['revoked_at']:%Y-%m-%d %H:%M}" if k["revoked_at"] else "active"
        used = f"{k['last_used_at']:%Y-%m-%d %H:%M}" if k["last_used_at"] else "never"
        typer.echo(f"{k['key_id']}  {k['role']:<8} {k['crew'] or '-':<24} {state:<24} last used {used}  {k['label']}")


@keys_app.command("revoke")
@_guard
def keys_revoke(ctx: typer.Context, key_id: str) -> None:
    """Revoke a key by its id (from `geo311 keys list`); it stops working at once."""
    from geo311.auth import revoke_key

    with _rt(ctx).session() as session:
        fresh = revoke_key(session, key_id)
    typer.echo(f"revoked {key_id}" if fresh else f"{key_id} was already revoked")


# ----- crews ------------------------------------------------------------------------------
def _split(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _show_crew(c: dict) -> None:
    typer.echo(f"{c['id']:>3}  {c['name']}  {'active' if c['active'] else 'inactive'}  yard {c['yard'][0]:.5f},"
               f"{c['yard'][1]:.5f}\n     categories: {', '.join(c['categories'])}\n     areas: {'; '.join(c['areas'])}")


@crews_app.command("create")
@_guard
def crews_create(
    ctx: typer.Context,
    name: str,
    area: Annotated[list[str], typer.Option(help="a district as layer:name; repeat for more")],
    category: Annotated[list[str], typer.Option(help="a category code (or a comma list); repeat for more")],
    yard: Annotated[str, typer.Option(help="lon,lat where its work lists start")],
) -> None:
    """Create a crew."""
    from geo311.crews import create_crew, parse_point

    with _rt(ctx).session() as session:
        _show_crew(create_crew(session, name, areas=area, categories=_split(category), yard=parse_point(yard)))


@crews_app.command("update")
@_guard
def crews_update(
    ctx: typer.Context,
    crew: Annotated[str, typer.Argument(help="name or id")],
    name: Annotated[str | None, typer.Option(help="a new name")] = None,
    area: Annotated[list[str] | None, typer.Option(help="replace the areas (layer:name, repeat)")] = None,
    category: Annotated[list[str] | None, typer.Option(help="replace the categories")] = None,
    yard: Annotated[str | None, typer.Option(help="lon,lat")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
) -> None:
    """Change a crew."""
    from geo311.crews import parse_point, update_crew

    with _rt(ctx).session() as session:
        _show_crew(update_crew(session, crew, name=name, areas=area, categories=_split(category),
                               yard=parse_point(yard) if yard else None, active=active))


@crews_app.command("list")
@_guard
def crews_list(ctx: typer.Context) -> None:
    """Crews with their areas, categories and yards."""
    from geo311.crews import list_crews

    with _rt(ctx).session() as session:
        for c in list_crews(session):
            _show_crew(c)


# ----- addresses --------------------------------------------------------------------------
@addresses_app.command("load")
@_guard
def addresses_load(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="a CSV of address points (plain or .gz)")],
    map_: Annotated[list[str] | None, typer.Option(
        "--map", help="FIELD=COLUMN for number, street, unit, city, postcode, lon, lat "
                      "(default: the Oregon Metro RLIS columns NUMBER, STREET, CITY, POSTCODE, LON, LAT)")] = None,
    inside_jurisdictions: Annotated[bool, typer.Option(
        help="keep only the points inside the loaded jurisdictions")] = False,
    refused: Annotated[Path | None, typer.Option(help="where to write the refused rows (default beside FILE)")] = None,
) -> None:
    """Replace the address points with the file's, atomically."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from geo311.address_loader import load_addresses

    mapping = None
    if map_:
        mapping = {}
        for item in map_:
            if "=" not in item:
                _fail(f"--map takes FIELD=COLUMN, got {item!r}", 2)
            key, column = item.split("=", 1)
            mapping[key.strip()] = column.strip()
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  transient=True) as bar:
        task = bar.add_task(f"loading {file.name}", total=None)
        with _rt(ctx).session() as session:
            summary = load_addresses(session, file, mapping=mapping, inside_jurisdictions=inside_jurisdictions,
                                     refused_path=refused, progress=lambda sent: bar.update(task, completed=sent))
    for line in summary.lines():
        typer.echo(line)


# ----- import and export ------------------------------------------------------------------
_IMPORT_SUFFIXES = {".csv": "csv", ".tsv": None, ".geojson": "geojson", ".geojsons": "geojson",
                    ".geojsonl": "geojson", ".geojsonseq": "geojson"}


def _format_of(file: Path, given: str | None) -> str:
    if given:
        return given
    found = _IMPORT_SUFFIXES.get(Path(file.name.removesuffix(".gz")).suffix.lower())
    if not found:
        _fail(f"say the format of {file.name}: --format csv, geojson or open311-json", 2)
    return found


def _rate_columns():
    from rich.progress import (
        BarColumn,
        ProgressColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class RowsPerSecond(ProgressColumn):
        def render(self, task) -> Text:
            rows, elapsed = task.fields.get("rows", 0), task.elapsed or 0
            return Text(f"{rows:,} rows  {rows / elapsed if elapsed else 0:,.0f} rows/s")

    return ("[progress.description]{task.description}", BarColumn(), TaskProgressColumn(), RowsPerSecond(),
            TimeElapsedColumn(), TextColumn(""))


@app.command("import")
@_guard
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV, GeoJSON or Open311 JSON (plain or .gz)")],
    format_: Annotated[str | None, typer.Option(
        "--format", help="csv, geojson or open311-json (default: from the file's extension)")] = None,
    map_: Annotated[list[str] | None, typer.Option(
        "--map", help="FIELD=COLUMN: id, lon, lat, category, created_at, updated_at, closed_at, status, "
                      "description, address, reporter_name, reporter_email, reporter_phone (repeat)")] = None,
    mapping_file: Annotated[Path | None, typer.Option(
        help="YAML/JSON: columns (FIELD: COLUMN), and optionally categories, statuses, date_format, timezone, "
             "encoding, delimiter, srid")] = None,
    categories: Annotated[Path | None, typer.Option(
        help="YAML/JSON: the source's category -> a geo311 category code")] = None,
    fallback_category: Annotated[str | None, typer.Option(
        help="the category of unmapped types (default: they are refused)")] = None,
    date_format: Annotated[list[str] | None, typer.Option(
        help="strptime format of the dates, e.g. '%m/%d/%Y %I:%M:%S %p' (default ISO 8601); repeat it for a file "
             "that mixes formats (tried in turn; iso: ISO 8601)")] = None,
    timezone: Annotated[str | None, typer.Option(
        help="time zone of dates without an offset, e.g. America/Los_Angeles (default UTC)")] = None,
    source: Annotated[str | None, typer.Option(
        help="the source system's name, stored with each record (default: the file's name)")] = None,
    encoding: Annotated[str | None, typer.Option(
        help="the file's text encoding, e.g. cp1252 for a CSV saved by Excel on Windows (default utf-8)")] = None,
    srid: Annotated[int | None, typer.Option(
        help="the coordinates' spatial reference, an EPSG code: e.g. 2913 for Oregon State Plane North in feet "
             "(default 4326: longitude and latitude)")] = None,
    delimiter: Annotated[str | None, typer.Option(
        help="a CSV's column separator: one character, or tab (default: found from the header line among "
             "comma, semicolon, tab and |)")] = None,
    dedup: Annotated[bool, typer.Option(
        help="merge duplicates (within the file and into existing reports) by the categories' rules")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=1_000_000, help="rows per atomic batch")] = 10_000,
    writers: Annotated[int, typer.Option(
        min=1, max=16, help="connections writing batches at once (not with --dedup or --dry-run)")] = 2,
    dry_run: Annotated[bool, typer.Option(help="say what would happen; store nothing")] = False,
    indexes: Annotated[str, typer.Option(
        help="auto, defer or keep: set the secondary indexes of the reports' tables aside while the batches "
             "write and build them once at the end (faster; meanwhile maps, work lists and intake's duplicate "
             "check read whole tables). auto: for a first load, 50,000 rows or more and at least the reports "
             "stored")] = "auto",
    refused: Annotated[Path | None, typer.Option(
        help="where to write the refused rows with their reasons (default: FILE.refused.csv beside FILE)")] = None,
) -> None:
    """Import a history of reports: matched, routed, optionally deduplicated, in atomic batches."""
    from rich.progress import Progress

    from geo311.import_mapping import parse_map_options, read_structured
    from geo311.imports import ImportOptions, import_file

    fmt = _format_of(file, format_)
    columns, category_map, status_map = {}, None, None
    if mapping_file:
        spec = read_structured(mapping_file, "mapping file") or {}
        if not isinstance(spec, dict):
            _fail(f"the mapping file {mapping_file} must be a mapping (columns: ..., categories: ...)", 2)
        nested = {"columns", "categories", "statuses", "date_format", "timezone", "fallback_category", "source",
                  "encoding", "delimiter", "srid"}
        columns = dict(spec.get("columns") or {}) if nested & set(spec) else dict(spec)
        category_map, status_map = spec.get("categories"), spec.get("statuses")
        date_format = date_format or spec.get("date_format")
        timezone = timezone or spec.get("timezone")
        fallback_category = fallback_category or spec.get("fallback_category")
        source = source or spec.get("source")
        encoding = encoding or spec.get("encoding")
        delimiter = delimiter or spec.get("delimiter")
        srid = srid or spec.get("srid")
    columns.update(parse_map_options(map_))
    if categories:
        spec = read_structured(categories, "category mapping") or {}
        spec = spec.get("categories", spec) if isinstance(spec, dict) else spec
        if not isinstance(spec, dict):
            _fail(f"the category mapping {categories} must map the source's types to geo311 codes", 2)
        category_map = {**(category_map or {}), **spec}
    name = file.name.removesuffix(".gz").rsplit(".", 1)[0]
    opts = ImportOptions(format=fmt, source=source or name, columns=columns or None, category_map=category_map,
                         status_map=status_map, fallback_category=fallback_category, date_format=date_format,
                         timezone=timezone, encoding=encoding, delimiter=delimiter, srid=srid, dedup=dedup,
                         batch_size=batch_size, writers=writers, dry_run=dry_run, refused_path=refused, indexes=indexes,
                         boundary_margin_m=_rt(ctx).settings.boundary_margin_m)
    with Progress(*_rate_columns(), transient=True) as bar:
        tasks: dict[str, int] = {}

        def tick(phase: str, rows: int, done: int, total: int | None) -> None:
            if phase not in tasks:
                label = {"read": "reading  ", "locate": "locating ", "import": "importing",
                         "rollups": "dashboards", "indexes": "indexes  "}[phase]
                tasks[phase] = bar.add_task(label, total=total, rows=0)
            fields = {"rows": rows} if rows >= 0 else {}
            bar.update(tasks[phase], completed=done, total=total, **fields)

        with _rt(ctx).session() as session:
            summary = import_file(session, file, opts, progress=tick)
    for line in summary.lines():
        typer.echo(line)


@app.command("export")
@_guard
def export_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="where to write (\"-\" for standard output)")],
    format_: Annotated[str, typer.Option("--format", help="geojsonseq or csv")] = "geojsonseq",
    bbox: Annotated[str | None, typer.Option(help="minlon,minlat,maxlon,maxlat")] = None,
    category: Annotated[str | None, typer.Option(help="category codes, comma separated")] = None,
    status: Annotated[str | None, typer.Option(help="statuses, comma separated; open = every open one")] = None,
    district: Annotated[str | None, typer.Option(help="layer:name, e.g. neighborhood:BUCKMAN")] = None,
    since: Annotated[str | None, typer.Option(help="created at or after (ISO 8601)")] = None,
    until: Annotated[str | None, typer.Option(help="created before (ISO 8601)")] = None,
    public: Annotated[bool, typer.Option(help="leave out the reporters' contact data")] = False,
) -> None:
    """Export reports with the report list's filters; the command line is staff, so contact data is
    included unless --public."""
    from datetime import datetime

    from geo311.exports import check_format, export_to_file, stream_export
    from geo311.imports import counted
    from geo311.reports import ReportFilter, district_ids, parse_bbox, parse_list, parse_statuses

    check_format(format_)

    def when(value: str | None, name: str):
        if not value:
            return None
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            _fail(f"--{name} {value!r} is not an ISO 8601 date or time", 2)

    with _rt(ctx).session() as session:
        flt = ReportFilter(bbox=parse_bbox(bbox), categories=parse_list(category, None, "category"),
                           statuses=parse_statuses(status), district_ids=district_ids(session, district),
                           since=when(since, "since"), until=when(until, "until"))
        if str(file) == "-":
            out = sys.stdout.buffer
            for chunk in stream_export(session, flt, format_, staff=not public):
                out.write(chunk)
            out.flush()
            return
        count = export_to_file(session, file, flt, format_, staff=not public)
        session.rollback()
    typer.echo(f"exported {counted(count, 'report')} to {file} ({format_})", err=True)


# ----- serve ------------------------------------------------------------------------------
@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="default GEO311_HOST (127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="default GEO311_PORT (8000)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="restart on code changes (development)")] = False,
) -> None:
    """Serve the API and map pages with uvicorn."""
    import uvicorn

    settings = _rt(ctx).settings
    uvicorn.run("geo311.api.app:app_from_env", factory=True, host=host or settings.host,
                port=port or settings.port, workers=workers, reload=reload,
                log_level=settings.log_level.lower(), access_log=False)  # geo311.access logs requests


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
