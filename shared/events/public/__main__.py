"""`python -m shared.events.public --write`: record every public payload's JSON Schema."""

from __future__ import annotations

import argparse
import json

from shared.events.public import PUBLIC_PAYLOADS, SCHEMAS, current_schema, schema_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="record the current schemas")
    if parser.parse_args().write:
        SCHEMAS.mkdir(exist_ok=True)
        for payload in PUBLIC_PAYLOADS.values():
            text = json.dumps(current_schema(payload), indent=2, ensure_ascii=False)
            schema_path(payload).write_text(text + "\n")
            print(schema_path(payload))


if __name__ == "__main__":
    main()
