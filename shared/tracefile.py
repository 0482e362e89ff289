"""The traces file: spans as OTLP/JSON lines (what `make up` writes when no collector is set),
written by the exporter and read back by the trace test."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

_KINDS = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}


def _value(value: Any) -> dict[str, Any]:
    kind = type(value)
    if kind is str:  # nearly all of them
        return {"stringValue": value}
    if kind is bool:
        return {"boolValue": value}
    if kind is int:
        return {"intValue": str(value)}
    if kind is float:
        return {"doubleValue": value}
    return {"arrayValue": {"values": [_value(item) for item in value]}}


def _attributes(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in (attributes or {}).items()]


def otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """Spans as an OTLP/JSON ExportTraceServiceRequest (what a collector's `otlpjsonfile`
    receiver reads back): ids in hex, times in nanoseconds."""
    by_resource: dict[int, tuple[Any, list[dict[str, Any]]]] = {}
    for span in spans:
        ctx = span.get_span_context()
        assert ctx is not None
        encoded: dict[str, Any] = {
            "traceId": f"{ctx.trace_id:032x}",
            "spanId": f"{ctx.span_id:016x}",
            "name": span.name,
            "kind": _KINDS[span.kind],
            "startTimeUnixNano": str(span.start_time),
            "endTimeUnixNano": str(span.end_time),
            "attributes": _attributes(span.attributes),
            "status": {"code": span.status.status_code.value},
        }
        if span.parent is not None:
            encoded["parentSpanId"] = f"{span.parent.span_id:016x}"
        if span.links:
            encoded["links"] = [
                {
                    "traceId": f"{link.context.trace_id:032x}",
                    "spanId": f"{link.context.span_id:016x}",
                }
                for link in span.links
            ]
        if span.status.description:
            encoded["status"]["message"] = span.status.description
        resource = span.resource
        by_resource.setdefault(id(resource), (resource, []))[1].append(encoded)
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes(resource.attributes)},
                "scopeSpans": [{"scope": {"name": "jiesu"}, "spans": encoded_spans}],
            }
            for resource, encoded_spans in by_resource.values()
        ]
    }


class JsonLinesExporter(SpanExporter):
    """Each export as one line of OTLP/JSON, appended to a file (or written to stdout)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        line = json.dumps(otlp_json(spans), ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            if self.path is None:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(line)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def read_spans(path: Path) -> list[dict[str, Any]]:
    """The spans of a traces file, each with its resource's `service.name` as `service`."""
    found: list[dict[str, Any]] = []
    if not path.exists():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        for resource in json.loads(line)["resourceSpans"]:
            service = next(
                (
                    a["value"].get("stringValue")
                    for a in resource["resource"]["attributes"]
                    if a["key"] == "service.name"
                ),
                None,
            )
            for scope in resource["scopeSpans"]:
                found += [{**span, "service": service} for span in scope["spans"]]
    return found
