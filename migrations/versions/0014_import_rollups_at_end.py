"""An import's rollups are applied when it finishes, not batch by batch.

Every batch of an import used to upsert its heat cells, daily stats and district days in the
batch's own transaction: about 5 rollup rows per report, 26 of an import's 88 s at 1,000,000 rows,
and the all-time heat cells, which every batch shares, made parallel writers wait on each other.
Now an import run holds its reports out of the rollups (a row of `import_holds`) and applies them
set-based, in slices of its reports, while and after it writes (geo311/import_rollups.py).

Which reports a run holds: those of its source with an id above `import_holds.held_above` (the
largest report id when the run began; the apply raises it slice by slice, and deletes the row when
it is done). Intake's reports have no source, so they are never held. The rule is one SQL function, geo311_rollups_held(source, id), used by
the triggers below, by the apply, and by the drift check and rebuild (geo311/heatmaps.py).

The triggers:
- An INSERT on reports or report_districts in a transaction that says it writes a batch of a
  pending run (`SET LOCAL geo311.rollups_held_for = <run id>`, only import_batches.py does) returns
  at once: everything such a statement inserts belongs to that run.
- Every other change leaves held reports out of its rollup deltas: a staff member's status change,
  intake joining a submission to an imported report, a boundary layer reloaded while an import runs.
  Before that it locks the holds it touches FOR KEY SHARE, and the apply locks its hold FOR UPDATE
  before it reads a slice (a row of its own, which the import's writers never lock): so a change either commits before the apply reads (and is read
  there) or waits for the apply to commit and then counts itself as a normal change.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUARD = "    IF NOT EXISTS (SELECT 1 FROM {rows}) THEN RETURN NULL; END IF;  -- 0009: nothing changed\n"
BATCH = "    IF geo311_rollups_held_batch() THEN RETURN NULL; END IF;  -- 0014: a batch of a pending import\n"
LOCK_REPORTS = """    PERFORM 1 FROM import_holds p WHERE EXISTS (  -- 0014: see geo311_rollups_held
        SELECT 1 FROM {rows} o WHERE o.source = p.source AND o.id > p.held_above) FOR KEY SHARE OF p;
"""
LOCK_DISTRICTS = """    PERFORM 1 FROM import_holds p WHERE EXISTS (  -- 0014: see geo311_rollups_held
        SELECT 1 FROM {rows} o JOIN reports r ON r.id = o.report_id AND r.jurisdiction_id = o.jurisdiction_id
        WHERE o.report_id > p.held_above AND r.source = p.source) FOR KEY SHARE OF p;
"""
HELD = " WHERE NOT geo311_rollups_held({source}, {id})"

# The all-time heat cells are upserted coarse level last (the order before: the 1024 m cells, which
# nearly every report shares, first, then 256 m, then 64 m). An import's slice and intake lock them
# in the same order, and a submission waits for a slice only when its own 64 m cell is in the
# slice, or during the slice's short tail of coarse cells, instead of for the slice's whole upsert.
BY_LEVEL = ("GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4", "GROUP BY 1, 2, 3, 4 ORDER BY 1 DESC, 2, 3, 4")

# function -> (transition table, extra guard, lock, [(text, text with the held reports left out)])
_REPORT_ROWS = {
    "INSERT": "SELECT *, 1 AS sign FROM new_rows",
    "DELETE": "SELECT *, -1 AS sign FROM old_rows",
}
_DISTRICT_ROWS = "OFFSET 0) r"
FUNCTIONS = {
    "geo311_reports_insert": ("new_rows", BATCH, "",
                              [(_REPORT_ROWS["INSERT"], _REPORT_ROWS["INSERT"] + HELD.format(source="source", id="id")),
                               BY_LEVEL]),
    "geo311_reports_update": ("new_rows", "", LOCK_REPORTS.format(rows="old_rows"),
                              [("SELECT *, 1 AS sign FROM new_rows UNION ALL SELECT *, -1 FROM old_rows",
                                "SELECT *, 1 AS sign FROM new_rows" + HELD.format(source="source", id="id")
                                + " UNION ALL SELECT *, -1 FROM old_rows" + HELD.format(source="source", id="id")),
                               BY_LEVEL]),
    "geo311_reports_delete": ("old_rows", "", LOCK_REPORTS.format(rows="old_rows"),
                              [(_REPORT_ROWS["DELETE"], _REPORT_ROWS["DELETE"] + HELD.format(source="source", id="id")),
                               BY_LEVEL]),
    "geo311_report_districts_insert": ("new_rows", BATCH, LOCK_DISTRICTS.format(rows="new_rows"),
                                       [(_DISTRICT_ROWS, _DISTRICT_ROWS + HELD.format(source="r.source", id="r.id"))]),
    "geo311_report_districts_delete": ("old_rows", "", LOCK_DISTRICTS.format(rows="old_rows"),
                                       [(_DISTRICT_ROWS, _DISTRICT_ROWS + HELD.format(source="r.source", id="r.id"))]),
}


def _body(name: str) -> str:
    return op.get_bind().execute(sa.text("SELECT prosrc FROM pg_proc WHERE proname = :n"), {"n": name}).scalar_one()


def _replace(name: str, body: str) -> None:
    op.execute(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn${body}$fn$")


def upgrade() -> None:
    op.create_table(
        "import_holds",
        sa.Column("run_id", sa.Integer(), nullable=False), sa.Column("source", sa.String(100), nullable=False),
        sa.Column("held_above", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["import_runs.id"], name=op.f("fk_import_holds_run_id_import_runs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_import_holds")),
    )
    op.execute("""
        CREATE FUNCTION geo311_rollups_held(report_source text, report_id bigint) RETURNS boolean
        LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
            SELECT report_source IS NOT NULL AND EXISTS (
                SELECT 1 FROM import_holds p WHERE p.source = report_source AND report_id > p.held_above)
        $fn$;
        CREATE FUNCTION geo311_rollups_held_batch() RETURNS boolean LANGUAGE sql STABLE AS $fn$
            SELECT EXISTS (SELECT 1 FROM import_holds
                           WHERE run_id = nullif(current_setting('geo311.rollups_held_for', true), '')::int)
        $fn$;
    """)
    for name, (rows, batch, lock, swaps) in FUNCTIONS.items():
        body = _body(name)
        guard = GUARD.format(rows=rows)
        if guard not in body:
            raise RuntimeError(f"{name} does not begin the way revision 0014 expects")
        body = body.replace(guard, guard + batch + lock, 1)
        for old, new in swaps:
            if old not in body:
                raise RuntimeError(f"{name} does not read its reports the way revision 0014 expects")
            body = body.replace(old, new)
        _replace(name, body)


def downgrade() -> None:
    for name, (_rows, batch, lock, swaps) in FUNCTIONS.items():
        body = _body(name).replace(batch + lock, "", 1) if batch + lock else _body(name)
        for old, new in swaps:
            body = body.replace(new, old)
        _replace(name, body)
    op.execute("DROP FUNCTION geo311_rollups_held(text, bigint), geo311_rollups_held_batch()")
    op.drop_table("import_holds")
