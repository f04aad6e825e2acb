"""The command line: `python -m labkit doctor | bench | setup | pool`."""

from __future__ import annotations

import argparse
import json
import sys

from . import bench, doctor, pool, runtimes
from .agent import cli as agent_cli
from .errors import LabkitError
from .sandboxes import parse_kinds


def _checked(check):
    """An argparse type: a whole number within bench's own bounds (the one check the
    library applies too), its error said without the library's name for the value."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        try:
            return check(value)
        except ValueError as exc:  # "calls must be at least 1 ..." -> "must be at least 1 ..."
            raise argparse.ArgumentTypeError(str(exc).partition(" ")[2]) from None
    return convert


def _kinds(text: str) -> list[str]:
    try:
        return parse_kinds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _paths(text: str) -> list[str]:
    try:
        return bench.check_paths(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m labkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    doc = sub.add_parser("doctor", help="which sandbox kinds run here, why not, how to fix")
    doc.add_argument("--json", action="store_true", help="print a JSON list instead")
    doc.add_argument("--kinds", type=_kinds, default=None, help="comma-separated kinds")
    doc.add_argument("--verdict", action="store_true",
                     help="one line: READY or NOT READY, and what runs live (pre-workshop check)")

    ben = sub.add_parser("bench", help="measure each kind of sandbox in one run")
    ben.add_argument("--kinds", type=_kinds, default=None, help="comma-separated kinds")
    ben.add_argument("--size", choices=sorted(bench.SIZES), default="quick",
                     help="quick (under a minute) or full (a careful run)")
    ben.add_argument("--n", type=_checked(bench.check_calls), default=None, dest="calls",
                     metavar="N", help="measured cold calls per kind (default: from --size)")
    ben.add_argument("--warmup", type=_checked(bench.check_warmup), default=bench.DEFAULT_WARMUP,
                     help="unmeasured calls first")
    ben.add_argument("--live", type=_checked(bench.check_live), default=None,
                     help="instances held at once to measure memory (default: each kind's "
                          "count for --size, at most what the machine allows)")
    ben.add_argument("--workload", choices=bench.WORKLOADS, default=bench.DEFAULT_WORKLOAD,
                     help="fib (the smallest program, default) or the same tool call in "
                          "JavaScript or Python in every kind that hosts it")
    ben.add_argument("--path", type=_paths, default=[bench.DEFAULT_PATH],
                     help="cold (a fresh sandbox per call, default), warm (what each kind "
                          "keeps ready), or cold,warm for both")
    ben.add_argument("--json", action="store_true",
                     help="print a JSON list, one object per kind (a stable format)")
    ben.add_argument("--save", action="store_true", help="also write data/recorded/")

    setup = sub.add_parser("setup", help="install the runtimes the lab uses, where allowed")
    setup.add_argument("parts", nargs="*", default=list(runtimes.SETUP_PARTS),
                       help=f"what to install: {', '.join(runtimes.SETUP_PARTS)} (default: all)")
    pooled = sub.add_parser("pool", help="pool a room's bench runs into one figure")
    pooled.add_argument("folder", help="a folder of bench runs (*.json), one per machine")
    pooled.add_argument("--html", default=None,
                        help="where to write the figure (default: FOLDER/class-results.html)")
    agent_cli.add_parser(sub)
    return parser


def _print_bench_table(run, workload: str = bench.DEFAULT_WORKLOAD) -> None:
    print(f"workload: {workload}")
    print(f"{'kind':<8} {'p50 ms':>9} {'p99 ms':>9} {'floor ms':>9} {'per s':>9} "
          f"{'MB/inst':>9}")
    for r in run:
        if not r.available:
            print(f"{r.kind:<8} not available: {r.reason} (fix: {r.fix})")
            continue
        floor = r.extras.get("floor_ms")
        floor = f"{floor:>9.3f}" if floor is not None else f"{'-':>9}"
        print(f"{r.kind:<8} {r.start_ms_p50:>9.3f} {r.start_ms_p99:>9.3f} {floor} "
              f"{r.per_second:>9.0f} {r.mem_mb_per_instance:>9.3f}")
        for warning in r.warnings:
            print(f"{'':<8} warning: {warning.message}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "doctor":
            results = doctor.check_all(args.kinds)
            if args.json:
                print(json.dumps([r.to_dict() for r in results], indent=2))
            elif args.verdict:
                print(doctor.verdict(results))
            else:
                print(doctor.format_facts(), end="\n\n")
                print(doctor.format_table(results))
            return 0
        if args.command == "bench":
            run = bench.run_bench(args.kinds, calls=args.calls, warmup=args.warmup,
                                  live=args.live, size=args.size, workload=args.workload,
                                  show_progress=sys.stderr.isatty() or not args.json,
                                  path=args.path)
            if args.save:
                print(f"saved to {bench.save(run)}", file=sys.stderr)
            if args.json:
                print(json.dumps([r.to_dict(samples=False) for r in run], indent=2))
            elif args.path == [bench.DEFAULT_PATH]:
                _print_bench_table(run, args.workload)
            else:  # one table per path, each headed by it
                for one in args.path:
                    print(f"path: {one}")
                    _print_bench_table([r for r in run if r.path == one], args.workload)
            return 0
        if args.command == "pool":
            runs = pool.load_folder(args.folder)
            print(pool.summary(runs))
            html = pool.write_html(pool.figure(runs), args.html or
                                   f"{args.folder.rstrip('/')}/class-results.html")
            print(f"\nfigure: {html}")
            return 0
        if args.command == "agent":
            return agent_cli.run(args)
        if args.command == "setup":
            for line in runtimes.setup(args.parts):
                print(line)
            return 0
    except (LabkitError, ValueError) as exc:
        print(f"labkit: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("labkit: interrupted; everything it started has been stopped", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
