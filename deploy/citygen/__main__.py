"""Generate a Beijing-size city model (deterministic for a seed) as the admin API's CSV sections
or as one YAML file.

Run: python -m deploy.citygen --seed 1 --scale 1.0 --out DIR [--format csv|yaml]
Load: see README "A Beijing-size city 北京规模的城市".
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from deploy.citygen.model import generate
from deploy.citygen.write import write_csv, write_yaml


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.citygen", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: 343 streets (Beijing)")
    parser.add_argument("--out", type=Path, required=True, help="a directory")
    parser.add_argument("--format", choices=("csv", "yaml"), default="csv")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    city = generate(args.seed, args.scale)
    files = (write_csv if args.format == "csv" else write_yaml)(city, args.out)
    took = time.perf_counter() - started
    print(json.dumps(city.shape(), ensure_ascii=False))
    for path in files:
        print(f"{path}  {path.stat().st_size / 1e6:.1f} MB")
    print(f"生成用时 generated in {took:.1f} s")


if __name__ == "__main__":
    main()
