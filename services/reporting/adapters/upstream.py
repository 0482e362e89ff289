"""The other services, as the operations console reads them: their HTTP APIs and `/metrics`,
each with the console's key there (settings `console_<service>_key`). Service boundaries hold:
the console never reads another service's database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

SERVICES = ("intake", "dispatch", "notify")


class UpstreamError(Exception):
    """A service did not answer, or answered with an error: the page says which."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service}: {detail}")
        self.service = service
        self.detail = detail


@dataclass
class Sample:
    """One sample of a Prometheus metric: its labels and value."""

    labels: dict[str, str]
    value: float


@dataclass
class Upstream:
    """One HTTP client per service, opened on first use and kept (connections are reused)."""

    services: dict[str, tuple[str, str]]  # name -> (base URL, key)
    timeout_s: float = 5.0
    _clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    def client(self, service: str) -> httpx.AsyncClient:
        if service not in self._clients:
            url, key = self.services[service]
            self._clients[service] = httpx.AsyncClient(
                base_url=url, headers={"X-API-Key": key}, timeout=self.timeout_s
            )
        return self._clients[service]

    async def get(self, service: str, path: str, **params: Any) -> Any:
        """The JSON answer of GET `path` (None-valued parameters left out)."""
        query = {k: v for k, v in params.items() if v is not None}
        response = await self._send(service, "GET", path, params=query)
        return response.json()

    async def post(self, service: str, path: str, body: Any) -> Any:
        response = await self._send(service, "POST", path, json=body)
        return response.json()

    async def metrics(self, service: str) -> dict[str, list[Sample]]:
        """The service's `/metrics`, by sample name (counters' `_total` included)."""
        response = await self._send(service, "GET", "/metrics")
        samples: dict[str, list[Sample]] = {}
        for family in text_string_to_metric_families(response.text):
            for s in family.samples:
                samples.setdefault(s.name, []).append(Sample(dict(s.labels), s.value))
        return samples

    async def _send(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.client(service).request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise UpstreamError(service, f"{type(error).__name__}: {error}") from error
        if response.status_code >= 400:
            raise UpstreamError(service, f"{response.status_code} {response.text[:300]}")
        return response

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
