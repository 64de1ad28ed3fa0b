import pytest


@pytest.fixture(autouse=True)
def _clean(clean_db):
    yield clean_db
