import pytest

from services.intake import privacy


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("电话13812345678", "电话138****5678"),
        ("打 138 1234 5678 找我", "打 138****5678 找我"),
        ("+86 138-1234-5678", "138****5678"),
        ("座机0531-87654321", "座机0531-****4321"),
        ("身份证370124199001011234", "身份证370***********234"),
    ],
)
def test_numbers_typed_into_free_text_are_masked(typed, shown):
    assert shown in privacy.redact_text(typed)


def test_ordinary_numbers_in_text_are_left_alone():
    text = "2号楼1单元602，漏水已经3个月，面积约20平方米"
    assert privacy.redact_text(text) == text


def test_the_phone_tail_is_the_last_four_digits():
    assert privacy.phone_tail("+86 138-1234-5678") == "5678"
