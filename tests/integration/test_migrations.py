"""The numbered migrations build exactly the schema the models describe, on both engines."""
from playhouse.schema_diff import diff_models

from backend.db import MIGRATIONS_DIR
from backend.models import ALL_MODELS


def test_migrations_match_the_models(database):
    assert sorted(p.name for p in MIGRATIONS_DIR.glob("[0-9]*.py"))[0] == "0001_initial.py"
    with database.connection_context():
        diff = diff_models(database, ALL_MODELS)
    assert str(diff) == "", f"models and migrations differ:\n{diff}"
