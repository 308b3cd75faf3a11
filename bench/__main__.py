"""`python -m bench [NAME ...]`: run benchmarks (all by default) and update RESULTS.md."""

from __future__ import annotations

import importlib
import sys

from bench.common import RESULTS, write_section

BENCHMARKS = ["train", "serve", "swap", "quality", "search", "scale", "workers"]


def main() -> None:
    names = sys.argv[1:] or BENCHMARKS
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    for name in names:
        print(f"== {name}", flush=True)
        write_section(name, importlib.import_module(f"bench.{name}").main())
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
