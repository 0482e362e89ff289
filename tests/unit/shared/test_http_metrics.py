"""The HTTP metrics label each request by its route's template, never by the path it asked for:
label values stay as few as the routes, whatever callers send."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client import REGISTRY

from shared.http import UNMATCHED, BodyLimit, HttpMetrics


def app_with_routes() -> FastAPI:
    app = FastAPI()

    @app.get("/complaints/{ref}")
    async def read(ref: str) -> dict[str, str]:
        return {"ref": ref}

    @app.post("/complaints/{ref}/withdraw")
    async def withdraw(ref: str) -> dict[str, str]:
        return {"ref": ref}

    @app.get("/boom/{n}")
    async def boom(n: int) -> None:
        raise RuntimeError("the handler failed")

    app.add_middleware(BodyLimit, limit=16)
    app.add_middleware(HttpMetrics)
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def requests_counted(**labels: str) -> float:
    return REGISTRY.get_sample_value("jiesu_http_requests_total", labels) or 0.0


def route_labels() -> set[str]:
    return {
        sample.labels["route"]
        for metric in REGISTRY.collect()
        if metric.name == "jiesu_http_requests"
        for sample in metric.samples
    }


async def test_requests_to_many_ids_are_one_series_named_by_the_template() -> None:
    before = requests_counted(method="GET", route="/complaints/{ref}", status="200")
    refs = [f"JS-{uuid.uuid4().hex[:8]}" for _ in range(5)]
    async with client(app_with_routes()) as http:
        for ref in refs:
            assert (await http.get(f"/complaints/{ref}")).status_code == 200
    after = requests_counted(method="GET", route="/complaints/{ref}", status="200")
    assert after - before == 5
    labels = route_labels()
    assert not [label for label in labels if any(ref in label for ref in refs)]
    count = REGISTRY.get_sample_value(
        "jiesu_http_request_duration_seconds_count", {"method": "GET", "route": "/complaints/{ref}"}
    )
    assert count is not None and count >= 5


async def test_paths_no_route_takes_are_one_unmatched_series() -> None:
    before = requests_counted(method="GET", route=UNMATCHED, status="404")
    probes = [f"/wp-admin/{uuid.uuid4().hex}.php" for _ in range(3)]
    async with client(app_with_routes()) as http:
        for probe in probes:
            assert (await http.get(probe)).status_code == 404
    assert requests_counted(method="GET", route=UNMATCHED, status="404") - before == 3
    assert not [label for label in route_labels() if "wp-admin" in label]


async def test_an_unknown_method_is_other_and_a_wrong_one_keeps_the_route() -> None:
    other = requests_counted(method="OTHER", route="/complaints/{ref}", status="405")
    wrong = requests_counted(method="DELETE", route="/complaints/{ref}", status="405")
    async with client(app_with_routes()) as http:
        assert (await http.request("BREW", "/complaints/JS-1")).status_code == 405
        assert (await http.delete("/complaints/JS-1")).status_code == 405
    assert requests_counted(method="OTHER", route="/complaints/{ref}", status="405") == other + 1
    assert requests_counted(method="DELETE", route="/complaints/{ref}", status="405") == wrong + 1


async def test_a_request_refused_before_routing_is_counted_under_its_route() -> None:
    route = "/complaints/{ref}/withdraw"
    before = requests_counted(method="POST", route=route, status="413")
    async with client(app_with_routes()) as http:
        response = await http.post("/complaints/JS-2/withdraw", content=b"x" * 64)
    assert response.status_code == 413
    assert requests_counted(method="POST", route=route, status="413") == before + 1


async def test_an_error_escaping_the_app_counts_as_a_500() -> None:
    before = requests_counted(method="GET", route="/boom/{n}", status="500")
    async with client(app_with_routes()) as http:
        assert (await http.get("/boom/7")).status_code == 500
    assert requests_counted(method="GET", route="/boom/{n}", status="500") == before + 1


async def test_files_under_a_mount_are_one_series_named_by_the_mount(tmp_path) -> None:
    (tmp_path / "jiesu.css").write_text("body {}")
    app = app_with_routes()
    app.mount("/static", StaticFiles(directory=tmp_path), name="static")
    before = requests_counted(method="GET", route="/static/{path}", status="200")
    missing = requests_counted(method="GET", route="/static/{path}", status="404")
    async with client(app) as http:
        assert (await http.get("/static/jiesu.css")).status_code == 200
        assert (await http.get(f"/static/{uuid.uuid4().hex}.js")).status_code == 404
    assert requests_counted(method="GET", route="/static/{path}", status="200") == before + 1
    assert requests_counted(method="GET", route="/static/{path}", status="404") == missing + 1
