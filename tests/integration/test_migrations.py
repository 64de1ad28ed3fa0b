"""The numbered migrations build exactly the schema the models describe, on both engines."""
from playhouse.schema_diff import diff_models

from backend.db import MIGRATIONS_DIR
from backend.db import is_postgres
from backend.models import ALL_MODELS, MetricSum


def test_migrations_match_the_models(database):
    assert sorted(p.name for p in MIGRATIONS_DIR.glob("[0-9]*.py"))[0] == "0001_initial.py"
    with database.connection_context():
        diff = diff_models(database, [model for model in ALL_MODELS if model is not MetricSum])
        sums = diff_models(database, [MetricSum])
        indexes = {index.name: (tuple(index.columns), index.unique) for index in database.get_indexes("metric_sum")}
    assert str(diff) == "", f"models and migrations differ:\n{diff}"
    # metric_sum's indexes differ by engine on purpose (0014): PostgreSQL appends rows and
    # needs a partial index of the fresh ones; SQLite adds into one row per key (UPSERT).
    assert not sums.add_columns and not sums.drop_columns and not sums.create_tables, str(sums)
    key = ("area_path", "category_id", "kind", "month", "closed_month")
    if is_postgres():
        assert indexes["metric_sum_key"] == (("month",) + key[:3] + key[4:], False)
        assert "metric_sum_fresh" in indexes
    else:
        assert indexes == {"metric_sum_key": (key, True)}


def test_category_words_reach_databases_seeded_before_them(database):
    """0010: rows still holding the old default keywords take the new ones; console edits stay."""
    import importlib

    from backend.category_words import KEYWORDS
    from backend.models import Category

    words = importlib.import_module("backend.migrations.0010_category_words")
    with database.connection_context():
        lamp = Category.create(code="0801", name="路灯不亮", plain_name="路灯坏了",
                               keywords=words.PREVIOUS_KEYWORDS["0801"].split())
        edited = Category.create(code="0501", name="暴露垃圾", plain_name="垃圾没人清",
                                 keywords=["垃圾", "我们自己的词"])
        custom = Category.create(code="7701", name="自定义", plain_name="自定义", keywords=["x"])
        assert words.refresh_default_words(database) == 1
        lamp, edited, custom = (Category.get_by_id(c.id) for c in (lamp, edited, custom))
        assert lamp.keywords == KEYWORDS["0801"] and lamp.plain_name == "路灯、楼道灯坏了"
        assert "楼道灯" in lamp.keywords and set(words.PREVIOUS_KEYWORDS["0801"].split()) <= set(lamp.keywords)
        assert edited.keywords == ["垃圾", "我们自己的词"] and custom.keywords == ["x"]
        assert words.refresh_default_words(database) == 0  # once is enough
