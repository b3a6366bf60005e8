"""initial schema: jurisdictions, district layers, categories, reports, submissions, events

The first revision creates the postgis extension. Expression indexes are written by hand at the
end of upgrade(): Alembic cannot compare them, so the drift test skips them.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 02:52:11.991954
"""

from collections.abc import Sequence

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table('categories',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('group', sa.String(length=100), nullable=True),
    sa.Column('keywords', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('dedup_radius_m', sa.Float(), nullable=False),
    sa.Column('dedup_window', sa.Interval(), nullable=False),
    sa.Column('default_priority', sa.SmallInteger(), nullable=False),
    sa.Column('target_days', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('attributes', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("code ~ '^[a-z][a-z0-9_]*$'", name=op.f('ck_categories_code_slug')),
    sa.CheckConstraint('dedup_radius_m >= 0 AND dedup_radius_m <= 1000', name=op.f('ck_categories_radius_range')),
    sa.CheckConstraint('default_priority BETWEEN 1 AND 5', name=op.f('ck_categories_priority_range')),
    sa.CheckConstraint('target_days > 0', name=op.f('ck_categories_target_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_categories')),
    sa.UniqueConstraint('code', name=op.f('uq_categories_code'))
    )
    op.create_table('district_layers',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('loaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("key ~ '^[a-z][a-z0-9_]*$'", name=op.f('ck_district_layers_key_slug')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_district_layers')),
    sa.UniqueConstraint('key', name=op.f('uq_district_layers_key'))
    )
    op.create_geospatial_table('jurisdictions',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('rank', sa.SmallInteger(), nullable=False),
    sa.Column('boundary', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('loaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jurisdictions')),
    sa.UniqueConstraint('name', name=op.f('uq_jurisdictions_name'))
    )
    op.create_geospatial_index('ix_jurisdictions_boundary', 'jurisdictions', ['boundary'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_table('category_routes',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('jurisdiction_id', sa.Integer(), nullable=False),
    sa.Column('agency', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_category_routes_category_id_categories'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['jurisdiction_id'], ['jurisdictions.id'], name=op.f('fk_category_routes_jurisdiction_id_jurisdictions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_category_routes')),
    sa.UniqueConstraint('category_id', 'jurisdiction_id', name=op.f('uq_category_routes_category_id_jurisdiction_id'))
    )
    op.create_index(op.f('ix_category_routes_jurisdiction_id'), 'category_routes', ['jurisdiction_id'], unique=False)
    op.create_geospatial_table('districts',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('layer_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('code', sa.String(length=100), nullable=True),
    sa.Column('boundary', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['layer_id'], ['district_layers.id'], name=op.f('fk_districts_layer_id_district_layers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_districts'))
    )
    op.create_geospatial_index('ix_districts_boundary', 'districts', ['boundary'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index('ix_districts_layer_id_name', 'districts', ['layer_id', 'name'], unique=False)
    op.create_geospatial_table('jurisdiction_edges',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('jurisdiction_id', sa.Integer(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='LINESTRING', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['jurisdiction_id'], ['jurisdictions.id'], name=op.f('fk_jurisdiction_edges_jurisdiction_id_jurisdictions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jurisdiction_edges'))
    )
    op.create_index(op.f('ix_jurisdiction_edges_jurisdiction_id'), 'jurisdiction_edges', ['jurisdiction_id'], unique=False)
    op.create_geospatial_table('jurisdiction_parts',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('jurisdiction_id', sa.Integer(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['jurisdiction_id'], ['jurisdictions.id'], name=op.f('fk_jurisdiction_parts_jurisdiction_id_jurisdictions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jurisdiction_parts'))
    )
    op.create_geospatial_index('ix_jurisdiction_parts_geom', 'jurisdiction_parts', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_jurisdiction_parts_jurisdiction_id'), 'jurisdiction_parts', ['jurisdiction_id'], unique=False)
    op.create_geospatial_table('reports',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='open', nullable=False),
    sa.Column('priority', sa.SmallInteger(), nullable=False),
    sa.Column('jurisdiction_id', sa.Integer(), nullable=False),
    sa.Column('agency', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('submission_count', sa.Integer(), server_default='1', nullable=False),
    sa.Column('near_boundary', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('duplicate_of', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('open', 'assigned', 'in_progress', 'resolved', 'duplicate', 'not_actionable')", name=op.f('ck_reports_status_known')),
    sa.CheckConstraint('priority BETWEEN 1 AND 5', name=op.f('ck_reports_priority_range')),
    sa.CheckConstraint('submission_count >= 1', name=op.f('ck_reports_count_positive')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_reports_category_id_categories')),
    sa.ForeignKeyConstraint(['duplicate_of'], ['reports.id'], name=op.f('fk_reports_duplicate_of_reports')),
    sa.ForeignKeyConstraint(['jurisdiction_id'], ['jurisdictions.id'], name=op.f('fk_reports_jurisdiction_id_jurisdictions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports'))
    )
    op.create_index('ix_reports_category_id_status', 'reports', ['category_id', 'status'], unique=False)
    op.create_index('ix_reports_created_at_id', 'reports', ['created_at', 'id'], unique=False)
    op.create_index('ix_reports_jurisdiction_id', 'reports', ['jurisdiction_id'], unique=False)
    op.create_geospatial_index('ix_reports_location', 'reports', ['location'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_table('district_parts',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('layer_id', sa.Integer(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_district_parts_district_id_districts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['layer_id'], ['district_layers.id'], name=op.f('fk_district_parts_layer_id_district_layers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_district_parts'))
    )
    op.create_index(op.f('ix_district_parts_district_id'), 'district_parts', ['district_id'], unique=False)
    op.create_geospatial_index('ix_district_parts_geom', 'district_parts', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_district_parts_layer_id'), 'district_parts', ['layer_id'], unique=False)
    op.create_table('report_districts',
    sa.Column('report_id', sa.BigInteger(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_report_districts_district_id_districts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_districts_report_id_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('report_id', 'district_id', name=op.f('pk_report_districts'))
    )
    op.create_index('ix_report_districts_district_id', 'report_districts', ['district_id', 'report_id'], unique=False)
    op.create_geospatial_table('submissions',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('report_id', sa.BigInteger(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('payload_hash', sa.String(length=64), nullable=True),
    sa.Column('reply_status', sa.SmallInteger(), nullable=True),
    sa.Column('location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('distance_m', sa.Float(), server_default='0', nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('reporter_name', sa.Text(), nullable=True),
    sa.Column('reporter_email', sa.Text(), nullable=True),
    sa.Column('reporter_phone', sa.Text(), nullable=True),
    sa.Column('attributes', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('raw', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.CheckConstraint("channel IN ('web', 'api', 'open311', 'phone', 'email', 'walk_in', 'import')", name=op.f('ck_submissions_channel_known')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_submissions_report_id_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submissions')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_submissions_idempotency_key'))
    )
    op.create_index(op.f('ix_submissions_report_id'), 'submissions', ['report_id'], unique=False)
    op.create_table('report_events',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('report_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=True),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.Column('submission_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_events_report_id_reports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_report_events_submission_id_submissions'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_events'))
    )
    op.create_index('ix_report_events_report_id_at', 'report_events', ['report_id', 'at'], unique=False)

    # metre queries cast to geography(Point,4326); queries must repeat spatial.geog() exactly
    op.create_index('ix_reports_location_geog', 'reports', [sa.text('(location::geography(Point,4326))')],
                    postgresql_using='gist')
    op.create_index('ix_reports_open_geog', 'reports', [sa.text('(location::geography(Point,4326))')],
                    postgresql_using='gist',
                    postgresql_where=sa.text("status IN ('open', 'assigned', 'in_progress')"))
    op.create_index('ix_jurisdiction_edges_geog', 'jurisdiction_edges',
                    [sa.text('(geom::geography(LineString,4326))')], postgresql_using='gist')


def downgrade() -> None:
    # the postgis extension stays: other schemas in the database may use it
    op.drop_index('ix_jurisdiction_edges_geog', table_name='jurisdiction_edges')
    op.drop_index('ix_reports_open_geog', table_name='reports')
    op.drop_index('ix_reports_location_geog', table_name='reports')
    op.drop_index('ix_report_events_report_id_at', table_name='report_events')
    op.drop_table('report_events')
    op.drop_index(op.f('ix_submissions_report_id'), table_name='submissions')
    op.drop_geospatial_table('submissions')
    op.drop_index('ix_report_districts_district_id', table_name='report_districts')
    op.drop_table('report_districts')
    op.drop_index(op.f('ix_district_parts_layer_id'), table_name='district_parts')
    op.drop_geospatial_index('ix_district_parts_geom', table_name='district_parts', postgresql_using='gist', column_name='geom')
    op.drop_index(op.f('ix_district_parts_district_id'), table_name='district_parts')
    op.drop_geospatial_table('district_parts')
    op.drop_geospatial_index('ix_reports_location', table_name='reports', postgresql_using='gist', column_name='location')
    op.drop_index('ix_reports_jurisdiction_id', table_name='reports')
    op.drop_index('ix_reports_created_at_id', table_name='reports')
    op.drop_index('ix_reports_category_id_status', table_name='reports')
    op.drop_geospatial_table('reports')
    op.drop_index(op.f('ix_jurisdiction_parts_jurisdiction_id'), table_name='jurisdiction_parts')
    op.drop_geospatial_index('ix_jurisdiction_parts_geom', table_name='jurisdiction_parts', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('jurisdiction_parts')
    op.drop_index(op.f('ix_jurisdiction_edges_jurisdiction_id'), table_name='jurisdiction_edges')
    op.drop_geospatial_table('jurisdiction_edges')
    op.drop_index('ix_districts_layer_id_name', table_name='districts')
    op.drop_geospatial_index('ix_districts_boundary', table_name='districts', postgresql_using='gist', column_name='boundary')
    op.drop_geospatial_table('districts')
    op.drop_index(op.f('ix_category_routes_jurisdiction_id'), table_name='category_routes')
    op.drop_table('category_routes')
    op.drop_geospatial_index('ix_jurisdictions_boundary', table_name='jurisdictions', postgresql_using='gist', column_name='boundary')
    op.drop_geospatial_table('jurisdictions')
    op.drop_table('district_layers')
    op.drop_table('categories')
