"""Address points and their normalized streets (pg_trgm for typos), the matched address of
address-only reports, and an index on report events by time (Open311 updates read them by date)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 03:41:24.980810
"""

from collections.abc import Sequence

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table('address_streets',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('predir', sa.String(length=4), server_default='', nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('suffix', sa.String(length=8), server_default='', nullable=False),
    sa.Column('postdir', sa.String(length=4), server_default='', nullable=False),
    sa.Column('addresses', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_address_streets')),
    sa.UniqueConstraint('predir', 'name', 'suffix', 'postdir', name=op.f('uq_address_streets_predir_name_suffix_postdir'))
    )
    op.create_geospatial_table('addresses',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('number_suffix', sa.String(length=8), server_default='', nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.Column('city', sa.Text(), nullable=True),
    sa.Column('postcode', sa.String(length=16), nullable=True),
    sa.Column('location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['street_id'], ['address_streets.id'], name=op.f('fk_addresses_street_id_address_streets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_addresses'))
    )
    op.create_geospatial_index('ix_addresses_location', 'addresses', ['location'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index('ix_addresses_street_id_number', 'addresses', ['street_id', 'number'], unique=False)
    op.create_index('ix_report_events_at', 'report_events', ['at'], unique=False)
    op.add_column('reports', sa.Column('matched_address', sa.Text(), nullable=True))
    op.create_index('ix_address_streets_name_trgm', 'address_streets', ['name'], postgresql_using='gist',
                    postgresql_ops={'name': 'gist_trgm_ops'})


def downgrade() -> None:
    op.drop_index('ix_address_streets_name_trgm', table_name='address_streets')
    op.drop_column('reports', 'matched_address')
    op.drop_index('ix_report_events_at', table_name='report_events')
    op.drop_index('ix_addresses_street_id_number', table_name='addresses')
    op.drop_geospatial_index('ix_addresses_location', table_name='addresses', postgresql_using='gist', column_name='location')
    op.drop_geospatial_table('addresses')
    op.drop_table('address_streets')
