"""Area codes and what lies within them, read from the codes themselves.

Division codes nest by digit groups (省2 市2 县2 乡镇3 村居3); below the community come local
segments (`<community>-G01` a grid, `-B02` a building). A scope (an area a key covers) holds
itself and every code below it.
"""

from __future__ import annotations


def like_patterns(scope: str) -> list[str]:
    """SQL LIKE patterns matching `scope` and every code below it.

    Division codes nest by digit groups (省2 市2 县2 乡镇3 村居3), so a street's communities
    share its code without the trailing zero groups: 370124001000 → 370124001%.
    """
    if "-" in scope:
        return [scope, scope + "-%"]
    stem = scope
    for width in (3, 3, 2, 2):
        if len(stem) > width and stem.endswith("0" * width):
            stem = stem[:-width]
        else:
            break
    return [stem + "%"]


def within(code: str | None, scope: str | None) -> bool:
    """Whether `code` is `scope` or lies below it (a None scope: everywhere)."""
    if scope is None:
        return True
    if not code:
        return False
    return any(
        code == pattern or (pattern.endswith("%") and code.startswith(pattern[:-1]))
        for pattern in like_patterns(scope)
    )
