"""The null pipeline's services build as the real ones do, so that `make bench` can start them:
every route declares its audience, and `python -m tests.bench.null serve <service>` parses."""

from __future__ import annotations

import pytest

from shared.runtime import create_service_app
from tests.bench import null


@pytest.mark.parametrize("name", sorted(null.NULL_SERVICES))
def test_a_null_service_builds_like_the_real_one(name: str) -> None:
    service = null.NULL_SERVICES[name]
    app = create_service_app(
        service.runtime(name), title=name, description="", routers=service.routers()
    )
    assert app.routes


def test_the_serve_command_serves_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    served = []
    monkeypatch.setattr(null, "serve", served.append)
    monkeypatch.setattr("sys.argv", ["null", "serve", "intake"])
    null.main()
    assert "/complaints" in served[0].openapi()["paths"]
