"""Reporting's doors to what it does not own: the other services' HTTP APIs and metrics (the
operations console reads them with keys of its own) and the broker's admin API."""
