"""Free text that residents, units and staff type may hold phone and ID numbers and other
people's names: they are masked before the text becomes an event or a row. `FreeText` is the
type of every such field in a request body, so the masking happens at the door, in one place."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator

from shared.names import given_name_spans

# Numbers inside free text are found on a copy with full-width digits and signs made ASCII
# (same length, so the positions hold for the original), and may be written the way people
# type them: spaced, hyphenated, dotted, bracketed or grouped ("138 1234 5678", "138.1234.5678",
# "(138)1234-5678", "+86 138…", "1 3 8 1 2 3 4 5 6 7 8", "(0531)8765-4321").
_UPPER, _LOWER = range(0xFF21, 0xFF3B), range(0xFF41, 0xFF5B)
_NARROW = str.maketrans(
    "０１２３４５６７８９＋－（）．　" + "".join(map(chr, _UPPER)) + "".join(map(chr, _LOWER)),
    "0123456789+-(). " + "".join(chr(c - 0xFEE0) for c in (*_UPPER, *_LOWER)),
)


def narrow(text: str) -> str:
    """Full-width digits, Latin letters and the signs typed between digits (＋－（）．, the
    ideographic space) made ASCII, one character for one: positions hold for the original.
    Numbers in free text are found on such a copy, and so are replies' ratings and case
    numbers (services/intake/domain/ratings.py)."""
    return text.translate(_NARROW)


_GAP = r"[ \t\-.·()_/]{0,3}"  # what people put between digits
_MOBILE_IN_TEXT = re.compile(rf"(?<!\d)(?:\+?{_GAP}86{_GAP})?1{_GAP}[3-9](?:{_GAP}\d){{9}}(?!\d)")
_ID_IN_TEXT = re.compile(r"(?<![\dXx])(\d{6})(\d{8})(\d{3}[\dXx])(?![\dXx])")
_LANDLINE_IN_TEXT = re.compile(rf"(?<!\d)\(?0\d{{2,3}}\)?{_GAP}\d(?:{_GAP}\d){{6,7}}(?!\d)")


# What an erased resident's words read as, everywhere (ComplaintRedacted, or a sealed filing
# whose key is gone).
REDACTED_TEXT = "（诉求人已要求删除个人信息）"


def _digits(found: str) -> str:
    return re.sub(r"\D", "", found)


def _masked_mobile(found: str) -> str:
    digits = _digits(found)[-11:]
    return f"{digits[:3]}****{digits[-4:]}"


def _masked_landline(found: str) -> str:
    digits = _digits(found)
    area = (
        3
        if digits[:3] in ("010", "020", "021", "022", "023", "024", "025", "027", "028", "029")
        else 4
    )
    return f"{digits[:area]}-****{digits[-4:]}"


def _masked_id(found: str) -> str:
    return f"{found[:3]}***********{found[-3:]}"


def redact_names(text: str) -> str:
    """Mask the given names of the people the text names as such (联系人李秀英 → 联系人李**;
    王先生 and 社区书记贾振 stay: see `shared.names`)."""
    spans = given_name_spans(text)
    if not spans:
        return text
    shown = list(text)
    for start, end in spans:
        shown[start:end] = "*" * (end - start)
    return "".join(shown)


def redact_text(text: str) -> str:
    """Mask phone and ID numbers and the names of people a resident typed into the text
    before it becomes an event."""
    text = redact_names(text)
    for pattern, mask in (
        (_ID_IN_TEXT, _masked_id),
        (_MOBILE_IN_TEXT, _masked_mobile),
        (_LANDLINE_IN_TEXT, _masked_landline),
    ):
        ascii_copy = narrow(text)
        spans = [(m.start(), m.end(), mask(m.group(0))) for m in pattern.finditer(ascii_copy)]
        for start, end, shown in reversed(spans):
            text = text[:start] + shown + text[end:]
    return text


def mask_name(name: str) -> str:
    """欧阳秀兰 → 欧***, 王芳 → 王*: the first character stays, as on a receipt."""
    return name[:1] + "*" * (len(name) - 1)


def redact_known(text: str, names: Sequence[str] = ()) -> str:
    """`text` with numbers masked, and each of `names` (the resident's own, who typed it)
    masked wherever it appears, spaced or not."""
    text = redact_text(text)
    for name in names:
        name = "".join(name.split())
        if len(name) < 2:
            continue
        spaced = r"\s*".join(map(re.escape, name))
        text = re.sub(spaced, mask_name(name), text)
    return text


def redact_values(value: Any, names: Sequence[str] = ()) -> Any:
    """`value` with every text inside it (however nested in lists and objects) masked."""
    if isinstance(value, str):
        return redact_known(value, names)
    if isinstance(value, dict):
        return {key: redact_values(item, names) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_values(item, names) for item in value]
    return value


FreeText = Annotated[str, AfterValidator(redact_text)]
