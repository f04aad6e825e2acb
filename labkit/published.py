"""Published figures set beside the reader's own measurements in notebook 05.

Each entry names its row in data/reference_figures.csv (so its source, URL and year come
with it) and the single number read from that row for one chart. Where a row gives a
range or "a few", the entry says which number it takes and why, in `note`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .reference import Figure, figure


@dataclass(frozen=True)
class Published:
    label: str          # what the chart shows next to the point
    measure: str        # "start_ms", "mem_mb" or "per_second"
    value: float
    row: str            # a unique part of the reference row's metric
    note: str = ""

    @property
    def figure(self) -> Figure:
        return figure(self.row)


PUBLISHED = (
    Published("V8 isolate, Cloudflare 2018", "start_ms", 5, "Isolate cold start"),
    Published("wasmtime instance (SpiderMonkey.wasm)", "start_ms", 0.005,
              "Wasmtime instantiation", "5 µs, instantiation only, pooling allocator"),
    Published("Lucet instance (Fastly)", "start_ms", 0.05, "Lucet instantiation",
              "'under 50 microseconds'"),
    Published("crun, 100 x /bin/true", "start_ms", 16.9, "OCI runtime start+run+exit",
              "1.69 s for 100 sequential containers"),
    Published("runc, 100 x /bin/true", "start_ms", 33.4, "OCI runtime start+run+exit",
              "3.34 s for 100 sequential containers"),
    Published("Firecracker microVM to /sbin/init", "start_ms", 125, "Firecracker boot to "
              "application code", "'less than 125ms'"),
    Published("Docker warm start (preprint)", "start_ms", 554, "Docker warm container start",
              "low end of 554-568 ms; secondary source"),
    Published("V8 isolate, shared runtime (2018)", "mem_mb", 3,
              "Memory per isolate (shared runtime)"),
    Published("Firecracker microVM overhead", "mem_mb", 5,
              "Firecracker memory overhead per microVM", "'less than 5MB'"),
    Published("containerd-shim per container", "mem_mb", 10,
              "containerd-shim-runc-v2 RSS", "~10-11 MB RSS each"),
    Published("idle Node.js Lambda (2018)", "mem_mb", 35, "Idle Node.js Lambda memory"),
    Published("Firecracker microVMs per host", "per_second", 150,
              "Firecracker creation rate"),
)


def published(measure: str) -> list[Published]:
    """The published points for one chart: 'start_ms', 'mem_mb' or 'per_second'."""
    valid = sorted({p.measure for p in PUBLISHED})
    if measure not in valid:
        raise ValueError(f"unknown measure {measure!r}; valid ones are: {', '.join(valid)}")
    return [p for p in PUBLISHED if p.measure == measure]
