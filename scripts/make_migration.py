"""Write the next numbered migration from the difference between models and a database.

    .venv/bin/python scripts/make_migration.py "add foo"  (diffs against an up-to-date scratch SQLite)
Review the generated file before committing: it is code, not magic.
"""
import sys
import tempfile

from playhouse.migrations import Runner, template
from playhouse.schema_diff import diff_models

from backend.db import MIGRATIONS_DIR, init_database, migrate
from backend.models import ALL_MODELS

name = sys.argv[1] if len(sys.argv) > 1 else "migration"
with tempfile.TemporaryDirectory() as tmp:
    database = init_database(f"sqlite:///{tmp}/scratch.db")
    migrate(database)
    with database.connection_context():
        diff = diff_models(database, ALL_MODELS)
        body = template(diff)
        print(Runner(database, directory=str(MIGRATIONS_DIR)).create(name, body=body))
