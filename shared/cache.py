"""How often a process looks again at state it caches from its database (catalogues, city models,
calendars): at most every `max_age_s`, not for every request or record."""

from __future__ import annotations

import math
import time


class Freshness:
    """A cached value is trusted for `max_age_s` after it was checked. A change made through this
    process is seen at once (`forget`), one made through another replica within `max_age_s`."""

    def __init__(self, max_age_s: float = 1.0) -> None:
        self.max_age_s = max_age_s
        self._checked_at = -math.inf

    def forget(self) -> None:
        self._checked_at = -math.inf

    def fresh(self) -> bool:
        return time.monotonic() - self._checked_at < self.max_age_s

    def checked(self) -> None:
        self._checked_at = time.monotonic()
