"""API keys, crews and their areas, report assignment; the open-work index for work lists

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 03:10:26.669300
"""

from collections.abc import Sequence

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_geospatial_table('crews',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('categories', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('yard', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crews')),
    sa.UniqueConstraint('name', name=op.f('uq_crews_name'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('crew_id', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=200), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(role = 'crew') = (crew_id IS NOT NULL)", name=op.f('ck_api_keys_crew_key_has_crew')),
    sa.CheckConstraint("role IN ('resident', 'crew', 'manager', 'admin')", name=op.f('ck_api_keys_role_known')),
    sa.ForeignKeyConstraint(['crew_id'], ['crews.id'], name=op.f('fk_api_keys_crew_id_crews'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_id', name=op.f('uq_api_keys_key_id'))
    )
    op.create_table('crew_areas',
    sa.Column('crew_id', sa.Integer(), nullable=False),
    sa.Column('layer_key', sa.String(length=64), nullable=False),
    sa.Column('district_name', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['crew_id'], ['crews.id'], name=op.f('fk_crew_areas_crew_id_crews'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('crew_id', 'layer_key', 'district_name', name=op.f('pk_crew_areas'))
    )
    op.add_column('report_events', sa.Column('crew_id', sa.Integer(), nullable=True))
    op.create_foreign_key(op.f('fk_report_events_crew_id_crews'), 'report_events', 'crews', ['crew_id'], ['id'], ondelete='SET NULL')
    op.add_column('reports', sa.Column('crew_id', sa.Integer(), nullable=True))
    op.create_index('ix_reports_crew_id', 'reports', ['crew_id'], unique=False)
    op.create_foreign_key(op.f('fk_reports_crew_id_crews'), 'reports', 'crews', ['crew_id'], ['id'], ondelete='SET NULL')
    # work lists walk open work most urgent first, oldest first
    op.create_index('ix_reports_open_priority', 'reports', [sa.text('priority DESC'), 'created_at', 'id'],
                    postgresql_where=sa.text("status IN ('open', 'assigned', 'in_progress')"))


def downgrade() -> None:
    op.drop_index('ix_reports_open_priority', table_name='reports')
    op.drop_constraint(op.f('fk_reports_crew_id_crews'), 'reports', type_='foreignkey')
    op.drop_index('ix_reports_crew_id', table_name='reports')
    op.drop_column('reports', 'crew_id')
    op.drop_constraint(op.f('fk_report_events_crew_id_crews'), 'report_events', type_='foreignkey')
    op.drop_column('report_events', 'crew_id')
    op.drop_table('crew_areas')
    op.drop_table('api_keys')
    op.drop_geospatial_table('crews')
