"""``python -m bench [--quick] [--large] [--only NAME ...] [--json PATH]``: run the
benchmarks, print each figure next to its floor, and write the results as JSON."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import campaign, cluster, fuzz, large, load, roundtrip, rss, seedstyle, startup
from .project import Session
from .report import describe_machine, machine

BENCHMARKS = {
    "roundtrip": roundtrip.run,
    "fuzz": fuzz.run,
    "large": large.run,
    "rss": rss.run,
    "load": load.run,
    "startup": startup.run,
    "seedstyle": seedstyle.run,
    "campaign": campaign.run,
    "cluster": cluster.run,
}
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="a few repetitions only (a smoke test, not a measurement)")
    parser.add_argument("--large", action="store_true",
                        help="also validate a 256 MiB tensor (needs ~4 GiB of memory)")
    parser.add_argument("--only", action="append", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help="where to write the results (default: bench/results/<timestamp>.json)")
    args = parser.parse_args(argv)

    meta = machine() | {"quick": args.quick, "large": args.large}
    print(f"machine: {describe_machine(meta)}", flush=True)
    sections = {}
    with Session(quick=args.quick, large=args.large) as session:
        for name in args.only or BENCHMARKS:
            started = time.perf_counter()
            section = BENCHMARKS[name](session)
            print(f"\n{section.render()}\n  ({time.perf_counter() - started:.1f} s)", flush=True)
            sections[name] = section.to_json()
    path = args.json or RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "sections": sections}, indent=2) + "\n")
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
