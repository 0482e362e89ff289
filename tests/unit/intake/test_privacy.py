import pytest

from services.intake.domain import privacy


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("电话13812345678", "电话138****5678"),
        ("打 138 1234 5678 找我", "打 138****5678 找我"),
        ("+86 138-1234-5678", "138****5678"),
        ("座机0531-87654321", "座机0531-****4321"),
        ("身份证370124199001011234", "身份证370***********234"),
        # dotted, bracketed, grouped, underscored, full-width, spelled out digit by digit
        ("电话138.1234.5678", "电话138****5678"),
        ("(138)1234-5678", "138****5678"),
        ("138-1234 5678", "138****5678"),
        ("138_1234_5678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("手机：１３８ １２３４ ５６７８", "手机：138****5678"),
        ("＋８６ １３８１２３４５６７８", "138****5678"),
        ("1 3 8 1 2 3 4 5 6 7 8", "138****5678"),
        ("+86-138.1234.5678", "138****5678"),
        ("(0531)8765-4321", "0531-****4321"),
        ("0531 8765 4321", "0531-****4321"),
        ("（０５３１）８７６５４３２１", "0531-****4321"),
        ("010-12345678", "010-****5678"),
        ("电话 13912345678 3号楼", "电话 139****5678 3号楼"),  # a number after a space
    ],
)
def test_numbers_typed_into_free_text_are_masked(typed, shown):
    assert shown in privacy.redact_text(typed)


@pytest.mark.parametrize(
    "text",
    [
        "2号楼1单元602，漏水已经3个月，面积约20平方米",
        "2026年11月23日 10:30 到 13:45 停水",
        "编号JS-20261123-000123，已反馈",
        "３号楼１３０２室，全角数字的门牌",
    ],
)
def test_ordinary_numbers_in_text_are_left_alone(text):
    assert privacy.redact_text(text) == text


def test_the_rest_of_a_full_width_text_is_kept_as_typed():
    assert (
        privacy.redact_text("电话：１３８１２３４５６７８，谢谢！") == "电话：138****5678，谢谢！"
    )


def test_the_phone_tail_is_the_last_four_digits():
    assert privacy.phone_tail("+86 138-1234-5678") == "5678"
