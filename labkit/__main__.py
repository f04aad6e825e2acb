"""The command line: `python -m labkit doctor | bench | setup | pool`."""

from __future__ import annotations

import argparse
import json
import sys

from . import bench, doctor, load_bench, pool, runtimes
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


def _workloads(text: str) -> list[str]:
    try:
        return bench.check_workloads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _paths(text: str) -> list[str]:
    try:
        return bench.check_paths(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _concurrency(text: str) -> tuple[int, ...]:
    try:
        return load_bench.parse_concurrency(text)
    except (TypeError, ValueError) as exc:
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
                     help="instances held at once to measure memory (default: the same "
                          "for every kind, 10 quick or 50 full; fewer, with a warning, "
                          "where a kind cannot hold that many)")
    ben.add_argument("--workload", type=_workloads, default=[bench.DEFAULT_WORKLOAD],
                     help="fib (the smallest program, default) or the same tool call in "
                          "JavaScript or Python in every kind that hosts it (tool-js, "
                          "tool-py); a comma list runs each in one run: fib,tool-js,tool-py")
    ben.add_argument("--concurrency", type=_concurrency, default=load_bench.DEFAULT_CONCURRENCY,
                     help="clients calling at once, a comma list such as 1,2,4,8 (default 1): "
                          "throughput, p50/p99 under load and failures per kind and C")
    ben.add_argument("--path", type=_paths, default=[bench.DEFAULT_PATH],
                     help="cold (a fresh sandbox per call, default), precreated (a fresh "
                          "container made ahead, started on the call), warm (what each kind "
                          "keeps ready), or a comma list such as cold,precreated,warm")
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


def _print_bench_table(run, workload: str = bench.DEFAULT_WORKLOAD,
                       size: str = "quick") -> None:
    print(f"workload: {workload}")
    print(f"{'kind':<8} {'calls':>6} {'p50 ms':>9} {'p99 ms':>9} {'floor ms':>9} {'per s':>9} "
          f"{'MB/inst':>9}")
    for r in run:
        if not r.available:
            print(f"{r.kind:<8} not available: {r.reason} (fix: {r.fix})")
            continue
        floor = r.extras.get("floor_ms")
        floor = f"{floor:>9.3f}" if floor is not None else f"{'-':>9}"
        print(f"{r.kind:<8} {r.calls:>6} {r.start_ms_p50:>9.3f} {r.start_ms_p99:>9.3f} {floor} "
              f"{r.per_second:>9.0f} {r.mem_mb_per_instance:>9.3f}")
        for warning in r.warnings:
            print(f"{'':<8} warning: {warning.message}")
    note = bench.fewer_calls_note(run, size, workload)
    if note:
        print(note)


def _print_load_table(run) -> None:
    """Rows under load (concurrency above 1), if the run has any, and where each saturates."""
    rows = [r for r in run if r.concurrency > 1]
    if not rows:
        return
    print(f"\nunder load (clients calling at once)\n{'kind':<8} {'C':>3} {'calls/s':>9} "
          f"{'p50 ms':>9} {'p99 ms':>9} {'failed':>6}  clients")
    solo_shown, workload = set(), None
    for r in rows:
        if r.workload != workload and len({x.workload for x in rows}) > 1:
            print(f"workload: {r.workload}")
        workload = r.workload
        if not r.available:
            print(f"{r.kind:<8} {r.concurrency:>3} not available: {r.reason}")
            continue
        if (r.kind, r.workload) not in solo_shown and "c1_per_second" in r.extras:
            solo_shown.add((r.kind, r.workload))
            print(f"{r.kind:<8} {1:>3} {r.extras['c1_per_second']:>9.1f} "
                  f"{r.extras['c1_p50_ms']:>9.3f} {r.extras['c1_p99_ms']:>9.3f} {'':>6}  "
                  "(one client, the same harness)")
        print(f"{r.kind:<8} {r.concurrency:>3} {r.per_second:>9.1f} {r.start_ms_p50:>9.3f} "
              f"{r.start_ms_p99:>9.3f} {r.extras['failures']:>6}  {r.extras['clients']}"
              f" (at most {r.extras['calls_per_client']:,} calls each; cores "
              f"{r.extras['cpu_busy']:.0%} busy)")
    for s in load_bench.saturation(run):
        at = f"saturates at C={s['saturates_at']}" if s["saturates_at"] else "no saturation"
        print(f"{s['kind']:<8} {s['workload']}: {at}; peak {s['peak_per_second']:.1f}/s at "
              f"C={s['peak_at']}: {s['why']}")


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
                print("\n" + doctor.format_tried())
            return 0
        if args.command == "bench":
            run = bench.run_bench(args.kinds, calls=args.calls, warmup=args.warmup,
                                  live=args.live, size=args.size, workload=args.workload,
                                  concurrency=args.concurrency, path=args.path,
                                  show_progress=sys.stderr.isatty() or not args.json)
            if args.save:
                print(f"saved to {bench.save(run)}", file=sys.stderr)
            if args.json:
                print(json.dumps([r.to_dict(samples=False) for r in run], indent=2))
            else:
                for one in args.path:  # one table per path and workload
                    for workload in args.workload:
                        if args.path != [bench.DEFAULT_PATH]:
                            print(f"path: {one}")
                        _print_bench_table([r for r in run if r.workload == workload
                                            and r.concurrency == 1 and r.path == one],
                                           workload, args.size)
                _print_load_table(run)
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
