"""Published figures set beside the reader's own measurements in notebook 05.

Each entry names its row in data/reference_figures.csv (so its source, URL and year come
with it), the single number read from that row, and what that number measured: cold, warm
or pooled start; RSS, PSS or an unstated memory metric; guest memory included or not;
one instance or a whole host. The lab's own figures are cold starts of one instance, one
client at a time, and marginal PSS per live instance with everything it runs inside.
`published(chart)` returns only the points that measured the same kind of thing;
`left_out(chart)` returns the others with the reason, so a notebook can say why they are
not on the chart instead of dropping them silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from .reference import Figure, figure

# What the lab's own bench figures are, per chart (labkit.bench):
LAB_MEASURES = {
    "start_ms": "a cold start: a fresh sandbox created, run and torn down, one at a time",
    "mem_mb": "marginal PSS per live instance, everything it runs included",
    "per_second": "cold starts per second from one client, one after another",
}
START = ("cold", "warm", "pooled")
MEMORY = ("PSS", "RSS", "unstated")
SCOPE = ("instance", "host")


@dataclass(frozen=True)
class Published:
    name: str           # what the point is; the chart shows `label` (name + what it measured)
    measure: str        # the chart: "start_ms", "mem_mb" or "per_second"
    value: float
    row: str            # a unique part of the reference row's metric
    note: str = ""
    start: str = "cold"        # cold / warm / pooled (for start_ms and per_second)
    memory: str = "unstated"   # PSS / RSS / unstated (for mem_mb)
    guest: bool = True         # does the figure include what runs inside (guest, runtime)?
    scope: str = "instance"    # one instance at a time, or a whole host at once
    caveat: str = ""           # shown in the label: "unverified preprint", ...

    def __post_init__(self):
        for name, value, allowed in (("measure", self.measure, tuple(LAB_MEASURES)),
                                     ("start", self.start, START),
                                     ("memory", self.memory, MEMORY),
                                     ("scope", self.scope, SCOPE)):
            if value not in allowed:
                raise ValueError(f"invalid {name} {value!r}; valid ones are: "
                                 f"{', '.join(allowed)}")

    @property
    def figure(self) -> Figure:
        return figure(self.row)

    @property
    def measures(self) -> str:
        """What the number measured, in words (shown on the chart's label)."""
        if self.measure == "mem_mb":
            parts = [self.memory if self.memory != "unstated" else "metric unstated"]
            if not self.guest:
                parts.append("guest excluded")
        else:
            parts = [self.start]
        if self.scope == "host":
            parts.append("whole host")
        return ", ".join(parts + ([self.caveat] if self.caveat else []))

    @property
    def label(self) -> str:
        """The chart's label: the name and what the number measured."""
        return f"{self.name} ({self.measures})"

    def unlike(self) -> str:
        """Why this point does not measure what the lab measures ('' if it does)."""
        if self.scope != "instance":
            return "a whole host's rate, not one client's"
        if self.measure == "mem_mb":
            if not self.guest:
                return "excludes the guest's own memory"
            if self.memory == "RSS":
                return "RSS counts shared pages in full; the lab reports PSS"
            return ""
        if self.start != "cold":
            return f"a {self.start} start; the lab times cold ones"
        return ""


PUBLISHED = (
    Published("V8 isolate, Cloudflare 2018", "start_ms", 5, "Isolate cold start"),
    Published("wasmtime instance, before pooling (SpiderMonkey.wasm)", "start_ms", 2,
              "Wasmtime instantiation", "'about 2 milliseconds', eager initialisation"),
    Published("wasmtime instance, pooled (SpiderMonkey.wasm)", "start_ms", 0.005,
              "Wasmtime instantiation", "5 µs with the pooling allocator and CoW",
              start="pooled"),
    Published("Lucet instance (Fastly)", "start_ms", 0.05, "Lucet instantiation",
              "'under 50 microseconds', from pools of instances set up ahead of time",
              start="pooled"),
    Published("crun, 100 x /bin/true", "start_ms", 16.9, "OCI runtime start+run+exit",
              "1.69 s for 100 sequential containers"),
    Published("runc, 100 x /bin/true", "start_ms", 33.4, "OCI runtime start+run+exit",
              "3.34 s for 100 sequential containers"),
    Published("Firecracker microVM to /sbin/init", "start_ms", 125, "Firecracker boot to "
              "application code", "'less than 125ms', guest kernel boot included"),
    Published("Docker container, image cached", "start_ms", 554,
              "Docker warm container start", "low end of 554-568 ms; the source calls it "
              "warm because the image is cached", caveat="unverified preprint"),
    Published("V8 isolate, shared runtime (2018)", "mem_mb", 3,
              "Memory per isolate (shared runtime)"),
    Published("Firecracker microVM, VMM only", "mem_mb", 5,
              "Firecracker memory overhead per microVM", "'less than 5MB'; the guest's "
              "kernel and memory come on top", guest=False),
    Published("containerd-shim per container", "mem_mb", 10,
              "containerd-shim-runc-v2 RSS", "~10-11 MB RSS each", memory="RSS"),
    Published("containerd-shim per container", "mem_mb", 1.2,
              "containerd-shim memory per running container", "PSS 1,212 KB after ttrpc",
              memory="PSS"),
    Published("idle Node.js Lambda (2018)", "mem_mb", 35, "Idle Node.js Lambda memory"),
    Published("Firecracker microVMs per host", "per_second", 150,
              "Firecracker creation rate", scope="host"),
)


def _check_chart(measure: str) -> None:
    valid = sorted(LAB_MEASURES)
    if measure not in valid:
        raise ValueError(f"unknown measure {measure!r}; valid ones are: {', '.join(valid)}")


def published(measure: str) -> list[Published]:
    """The published points a chart may plot: 'start_ms', 'mem_mb' or 'per_second', only
    those that measured the same kind of thing as the lab (see `left_out` for the rest)."""
    _check_chart(measure)
    return [p for p in PUBLISHED if p.measure == measure and not p.unlike()]


def left_out(measure: str) -> list[tuple[Published, str]]:
    """The published points kept off a chart, each with the reason."""
    _check_chart(measure)
    return [(p, p.unlike()) for p in PUBLISHED if p.measure == measure and p.unlike()]
