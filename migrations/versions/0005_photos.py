"""Photos: each photo once (content-addressed: the original's SHA-256, its public copy's and
thumbnail's), and the photos each submission brought, in order

Revision ID: 0005p
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005p"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "photos",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=40), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("public_sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("thumb_sha256", sa.String(length=64), nullable=False),
        sa.Column("thumb_width", sa.Integer(), nullable=False),
        sa.Column("thumb_height", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$' AND public_sha256 ~ '^[0-9a-f]{64}$' "
                           "AND thumb_sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_photos_keys_hex")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
        sa.UniqueConstraint("sha256", name=op.f("uq_photos_sha256")),
    )
    op.create_table(
        "submission_photos",
        sa.Column("submission_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("photo_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["photo_id"], ["photos.id"], name=op.f("fk_submission_photos_photo_id_photos")),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"],
                                name=op.f("fk_submission_photos_submission_id_submissions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("submission_id", "position", name=op.f("pk_submission_photos")),
    )
    op.create_index(op.f("ix_submission_photos_photo_id"), "submission_photos", ["photo_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_submission_photos_photo_id"), table_name="submission_photos")
    op.drop_table("submission_photos")
    op.drop_table("photos")
