"""A host app's own first revision (a stand-in: the tests only stamp it)."""

revision = "host0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
