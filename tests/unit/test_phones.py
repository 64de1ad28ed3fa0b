"""backend.phones: one rule for mainland mobile numbers, wherever a phone is typed or read."""
import pytest

from backend.phones import MOBILE_IN_TEXT, normalise_mobile


@pytest.mark.parametrize("typed, kept", [
    ("13800138000", "13800138000"), (" 138 0013 8000 ", "13800138000"), ("+86 138-0013-8000", "13800138000"),
    ("0086(199)00001111", "19900001111"), ("（+86）13800138000".replace("（+86）", "+86"), "13800138000"),
])
def test_what_people_type_around_a_mobile_number_is_dropped(typed, kept):
    assert normalise_mobile(typed) == kept


@pytest.mark.parametrize("typed", ["", None, "1380013800", "138001380001", "13800138000123", "12800138000",
                                   "23800138000", "0596-2123456", "+1 415 555 0100", "１３８００１３８０００", "1380013800x"])
def test_anything_else_is_not_a_mobile_number(typed):
    assert normalise_mobile(typed) is None


def test_in_text_a_mobile_number_is_found_as_people_write_it_and_only_on_its_own():
    text = "电话13800138000或+86 139-0013-8000，身份证350602199001011235，单号9913800138000123"
    assert MOBILE_IN_TEXT.findall(text) == ["13800138000", "+86 139-0013-8000"]
    assert all(normalise_mobile(found) for found in MOBILE_IN_TEXT.findall(text))
