"""The sandbox contract: what every kind must keep, written once, inherited by every kind.

A kind's test file subclasses `SandboxContract` and gives a few class attributes and two
hostile guests (as fsspec's backends inherit its abstract test suites):

    class TestRunc(SandboxContract):
        kind = "runc"
        memory_range = (50e3, 20 * 2**20)

        def spin(self, limits): ...   # run a runaway loop under `limits`
        def hog(self, limits): ...    # grab memory without end under `limits`

Every test here runs inside the shared leak check (conftest.nothing_left_behind): a
process, container, cgroup, mount, temporary folder or labkit thread left behind fails it,
and so does a check that could not look. A kind that cannot run on this machine skips the
whole class with the reason its cheap check gives.
"""

from __future__ import annotations

import inspect
import json
import time
from typing import ClassVar

import pytest
from conftest import assert_nothing_new, more_than_fit, take_stock

from labkit.errors import GuestError, LimitExceeded, NotOpen, NotSupported
from labkit.sandboxes import KINDS, Limits, availability, open_sandbox, sandbox_class
from labkit.sandboxes.base import NEEDS_OPEN, OPTIONAL, Capabilities, Sandbox
from labkit.workload import (
    MAX_N,
    STANDARD_N,
    TOOL_LANGUAGES,
    WORKLOAD_LANGUAGES,
    check_tool_output,
    expected,
    tool_input,
    tool_source,
)

# How each public operation is called when the contract only needs it to be called.
CALLS = {
    "cold_call": (), "run_standard": (), "warm_call": (), "hold": (1,), "footprint": (),
    "memory_per_instance": (1,), "density_curve": ([1],), "fresh_runtime": (),
    "extra_figures": (1,), "run_script": ("true",), "bundle_for": (),
    "compile": ("(module)",), "run_wasi": ("(module)",),
    "run_js": ("export function f() { return 1; }", "f"), "floor_call": (),
    "precreate": ("fib",), "start_precreated": (),
}
# Hostile and failing tools, the same for every kind that hosts the language.
RAISING_TOOLS = {
    "javascript": "function tool(input) { throw new Error('the tool gave up'); }",
    "python": "def tool(input):\n    raise ValueError('the tool gave up')\n",
}
SPINNING_TOOLS = {
    "javascript": "function tool(input) { for (;;) {} }",
    "python": "def tool(input):\n    while True:\n        pass\n",
}
# Returns the text of every path in input["paths"] it could read (in V8 `require` itself
# is missing: that fails the call, which is as good).
READING_TOOLS = {
    "javascript": """function tool(input) {
  const fs = require("fs"), got = [];
  for (const path of input.paths) { try { got.push(fs.readFileSync(path, "utf8")); } catch (e) {} }
  return got;
}""",
    "python": """def tool(input):
    got = []
    for path in input["paths"]:
        try:
            with open(path) as f:
                got.append(f.read())
        except OSError:
            pass
    return got
""",
}
# Floors are the path with no sandbox work: any kind's is far under this (generous).
FLOOR_SECONDS = 30
# Generous: a bound that only a hung guest passes, never a busy machine.
CAP_SECONDS = 120


class SandboxContract:
    """Inherit and set `kind`; override the hooks below where the kind needs to."""

    kind: ClassVar[str]
    # Bytes of PSS one held instance may add (a kind's own sane range), measured over
    # `memory_count` instances.
    memory_range: ClassVar[tuple[float, float]]
    memory_count: ClassVar[int] = 5
    # Instances held by the hold tests, and the counts of the density curve.
    hold_count: ClassVar[int] = 3
    density_counts: ClassVar[tuple[int, ...]] = (2, 4)
    # Limits for the runaway guests: the CPU cap must end `spin`, the memory cap `hog`.
    spin_limits: ClassVar[Limits] = Limits(cpu_seconds=1)
    hog_limits: ClassVar[Limits] = Limits(memory_mb=24, cpu_seconds=20)
    # For kinds with `exports`: code, export, arguments and the right answer.
    export_call: ClassVar[tuple] = ()
    # Why a tool of this kind CAN read host files, for a kind that is not a wall for files
    # (the plain process); "" for every sandbox, whose tools must read none.
    reads_host_files: ClassVar[str] = ""

    def spin(self, limits: Limits) -> None:
        """Run a guest that loops forever, in a fresh sandbox of this kind with `limits`."""
        raise NotImplementedError("a kind's contract test must supply its spin guest")

    def live_instances(self, box) -> int | None:
        """Instances held right now, for a kind whose instances the leak scan cannot see
        (wasm's live inside this process); None where the scan sees them."""
        return None

    def hog(self, limits: Limits) -> int | None:
        """Run a guest that grabs memory without end, with `limits`: raise what the kind
        raises, or return how many bytes the guest got (a cap that refuses growth)."""
        raise NotImplementedError("a kind's contract test must supply its hog guest")

    # --- fixtures -----------------------------------------------------------------------
    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _runs_here(cls):
        found = availability(cls.kind, trial=False)
        if not found.available:
            pytest.skip(f"{cls.kind}: {found.reason}")

    @pytest.fixture(autouse=True)
    def _nothing_left(self, nothing_left_behind):
        """Every contract test runs inside the shared leak check."""
        yield nothing_left_behind

    @pytest.fixture(scope="class")
    @classmethod
    def box(cls, _runs_here, places):
        """One open sandbox for the class; what closing it leaves behind is checked too."""
        before = take_stock(places)
        assert not before.blind, before.blind
        with open_sandbox(cls.kind) as sandbox:
            yield sandbox
        assert_nothing_new(before, places)

    # --- answers and arguments ------------------------------------------------------------
    @pytest.mark.parametrize("n", [0, 1, 2, STANDARD_N, MAX_N])
    def test_answers_match_the_host(self, box, n):
        assert box.run_standard(n) == expected(n)
        assert box.cold_call(n) == expected(n)

    @pytest.mark.parametrize("n, error", [(-1, ValueError), (MAX_N + 1, ValueError),
                                          (2.5, TypeError), (True, TypeError),
                                          ("20", TypeError)])
    def test_bad_workload_arguments_are_named(self, box, n, error):
        for call in (box.cold_call, box.run_standard):
            with pytest.raises(error, match="n must be"):
                call(n)

    # --- used outside its `with` block --------------------------------------------------
    def _operations(self, box) -> list[str]:
        """Every operation this kind has that needs an open sandbox (optional ones only
        where its capabilities promise them: the others raise NotSupported)."""
        unsupported = {method for capability, method in OPTIONAL.items()
                       if not getattr(box.capabilities, capability)}
        return [name for name in NEEDS_OPEN
                if hasattr(box, name) and name not in unsupported]

    def _call(self, box, name: str):
        args = (self.export_call or ("(module)", "f"))[:2] if name == "call_export" \
            else CALLS[name]
        return getattr(box, name)(*args)

    @pytest.mark.parametrize("when", ["never opened", "closed"])
    def test_every_operation_outside_with_raises_not_open(self, _runs_here, when):
        sandbox = sandbox_class(self.kind)()
        if when == "closed":
            with sandbox:
                pass
        message = f"the {self.kind} sandbox is not open: use it in a `with` block"
        operations = self._operations(sandbox)
        assert {"cold_call", "run_standard", "hold", "footprint", "memory_per_instance",
                "density_curve"} <= set(operations)
        for name in operations:
            with pytest.raises(NotOpen, match=message):
                self._call(sandbox, name)
                pytest.fail(f"{name}() ran outside the `with` block")
        assert not sandbox.is_open

    # --- holding instances ----------------------------------------------------------------
    @pytest.mark.parametrize("count, error", [(0, ValueError), (-5, ValueError),
                                              (1.5, TypeError), (True, TypeError),
                                              ("3", TypeError)])
    def test_hold_refuses_bad_counts(self, box, count, error):
        with pytest.raises(error, match="count"):
            with box.hold(count):
                pass

    def test_hold_refuses_more_than_fit_before_starting_any(self, box):
        before = box.footprint().processes
        with pytest.raises(ValueError, match="count"):
            with box.hold(more_than_fit(box)):
                pass
        assert box.footprint().processes == before

    def test_hold_keeps_instances_then_releases_them(self, box, places, _nothing_left):
        with box.hold(self.hold_count) as held:
            assert len(held) == self.hold_count
            assert self.live_instances(box) in (None, self.hold_count)
            assert box.run_standard() == expected()  # calls still work while holding
        assert_nothing_new(_nothing_left, places)
        assert self.live_instances(box) in (None, 0)
        assert box.run_standard() == expected()

    @pytest.mark.parametrize("interruption", [RuntimeError, KeyboardInterrupt])
    def test_hold_releases_after_an_exception(self, box, places, _nothing_left, interruption):
        with pytest.raises(interruption):
            with box.hold(self.hold_count):
                raise interruption("inside hold")
        assert_nothing_new(_nothing_left, places)
        assert self.live_instances(box) in (None, 0)
        assert box.run_standard() == expected()

    @pytest.mark.parametrize("interruption", [RuntimeError, KeyboardInterrupt])
    def test_closing_releases_a_hold_left_open(self, _runs_here, places, _nothing_left,
                                               interruption):
        """An exception inside `with box:` with a hold entered and never exited."""
        with pytest.raises(interruption):
            with open_sandbox(self.kind) as inner:
                inner.hold(self.hold_count).__enter__()
                raise interruption("inside with")
        assert_nothing_new(_nothing_left, places)
        assert self.live_instances(inner) in (None, 0)

    # --- holding a tool's runtime (what bench weighs for a tool workload) ------------------
    @pytest.mark.parametrize("workload", ["tool-js", "tool-py"])
    def test_a_held_tool_is_its_runtime_live_then_gone(self, box, places, _nothing_left,
                                                        workload):
        language = WORKLOAD_LANGUAGES[workload]
        if language not in box.capabilities.held_tools:
            with pytest.raises(NotSupported, match=workload):
                with box.hold(1, workload):
                    pass
            return
        if language not in box.capabilities.tools:
            pytest.fail(f"{self.kind} says it holds {language} tools it cannot run")
        idle = box.memory_per_instance(2)
        runtime = box.memory_per_instance(2, workload)
        # An interpreter with the tool run once weighs megabytes, and more than the kind's
        # own idle instance (a shell, an empty isolate, a page of linear memory).
        assert 2**20 < runtime < 200 * 2**20, f"{runtime:,.0f} bytes per held {workload}"
        assert runtime > idle, (runtime, idle)
        assert_nothing_new(_nothing_left, places)
        assert self.live_instances(box) in (None, 0)
        assert box.run_standard() == expected()

    def test_a_held_tool_is_released_after_an_exception(self, box, places, _nothing_left):
        (language, *_) = box.capabilities.held_tools or (None,)
        if language is None:
            pytest.skip(f"{self.kind} holds no tool runtime")
        workload = next(w for w, lang in WORKLOAD_LANGUAGES.items() if lang == language)
        with pytest.raises(KeyboardInterrupt):
            with box.hold(2, workload):
                raise KeyboardInterrupt("inside a tool hold")
        assert_nothing_new(_nothing_left, places)
        assert self.live_instances(box) in (None, 0)

    # --- memory ---------------------------------------------------------------------------
    def test_memory_per_instance_is_in_a_sane_range(self, box):
        low, high = self.memory_range
        per_instance = box.memory_per_instance(self.memory_count)
        assert low < per_instance < high, f"{per_instance:,.0f} bytes per instance"

    def test_density_curve_rows(self, box):
        rows = box.density_curve(self.density_counts)
        assert [row["n"] for row in rows] == list(self.density_counts)
        for row in rows:
            assert set(row) >= {"n", "total_mb", "kb_per_instance", "seconds_to_start",
                                "processes", "before_mb"}
            assert row["kb_per_instance"] == pytest.approx(row["total_mb"] * 1e3 / row["n"])
            assert 0 <= row["seconds_to_start"] < CAP_SECONDS and row["before_mb"] >= 0

    def test_density_curve_checks_every_count_before_starting(self, box):
        with pytest.raises(ValueError, match="count"):
            box.density_curve([1, 0])
        with pytest.raises(ValueError, match="count"):
            box.density_curve([1, more_than_fit(box)])

    # --- caps -------------------------------------------------------------------------------
    def test_the_cpu_cap_stops_a_runaway_loop(self, _runs_here):
        started = time.monotonic()
        with pytest.raises(LimitExceeded) as caught:
            self.spin(self.spin_limits)
        assert time.monotonic() - started < CAP_SECONDS
        capabilities = sandbox_class(self.kind).capabilities
        assert caught.value.limit == capabilities.cpu_limit_name, caught.value
        assert caught.value.kind == self.kind

    def test_the_memory_cap_stops_a_hog(self, _runs_here):
        cap = self.hog_limits.memory_mb * 2**20
        try:
            got = self.hog(self.hog_limits)
        except LimitExceeded as exc:
            assert exc.limit == "memory" and exc.kind == self.kind, exc
        else:
            assert got is not None and 0 < got <= cap, got

    # --- availability and capabilities -------------------------------------------------------
    def test_check_and_available_agree(self, _runs_here):
        cheap, trial = availability(self.kind, trial=False), availability(self.kind)
        assert cheap.available and trial.available, trial.reason
        assert cheap.kind == trial.kind == self.kind

    def test_capabilities_are_data_that_matches_the_registry(self):
        cls = sandbox_class(self.kind)
        assert isinstance(cls.capabilities, Capabilities)
        assert cls.capabilities.family == KINDS[self.kind][2]
        assert set(cls.live_counts) == {"quick", "full"}
        assert all(isinstance(v, int) and v >= 1 for v in cls.live_counts.values())
        assert cls.live_counts["quick"] <= cls.live_counts["full"]
        for capability, method in OPTIONAL.items():  # promised exactly where defined
            overridden = getattr(cls, method) is not getattr(Sandbox, method)
            assert overridden == getattr(cls.capabilities, capability), method

    def test_capabilities_are_honest(self, box):
        caps = box.capabilities
        for capability, method in OPTIONAL.items():
            if not getattr(caps, capability):
                with pytest.raises(NotSupported, match=f"the {self.kind} sandbox has no "
                                                       f"{method}"):
                    self._call(box, method)
        if caps.exports:
            source, export, args, right = self.export_call
            assert box.call_export(source, export, *args) == right
            assert caps.guest_languages
        if caps.scripts:
            assert box.run_script("echo hello $1", "there").stdout == "hello there\n"
            assert "sh" in caps.guest_languages
        if caps.warm_calls:  # in a box of its own: what a warm path keeps ready lives
            with open_sandbox(self.kind) as warm:  # until its box closes, not this test
                assert warm.warm_call(STANDARD_N) == expected()
        if caps.restart:
            box.fresh_runtime()
            assert box.run_standard() == expected()

    # --- the tool call ------------------------------------------------------------------------
    def _hosts(self, language: str) -> None:
        if language not in sandbox_class(self.kind).capabilities.tools:
            pytest.skip(f"{self.kind} hosts no {language} tools (NotSupported: "
                        "test_protocol.py)")

    @pytest.mark.parametrize("seed", [0, 1])
    @pytest.mark.parametrize("language", TOOL_LANGUAGES)
    def test_the_standard_tool_answers_as_the_host(self, box, language, seed):
        self._hosts(language)
        given = tool_input(seed)
        answer = check_tool_output(given, box.run_tool(language, tool_source(language), given))
        assert answer["count"] > 0 and answer["top_spenders"]

    @pytest.mark.parametrize("language", TOOL_LANGUAGES)
    def test_a_tool_that_raises_is_a_guest_error(self, box, language):
        self._hosts(language)
        with pytest.raises(GuestError, match="the tool gave up") as caught:
            box.run_tool(language, RAISING_TOOLS[language], tool_input(0))
        assert caught.value.kind == self.kind

    @pytest.mark.parametrize("language", TOOL_LANGUAGES)
    def test_a_runaway_tool_is_stopped_by_the_cpu_cap(self, _runs_here, language):
        self._hosts(language)
        started = time.monotonic()
        with pytest.raises(LimitExceeded) as caught, \
                open_sandbox(self.kind, self.spin_limits) as box:
            box.run_tool(language, SPINNING_TOOLS[language], "{}")
        assert time.monotonic() - started < CAP_SECONDS
        assert caught.value.limit == sandbox_class(self.kind).capabilities.cpu_limit_name, \
            caught.value
        assert caught.value.kind == self.kind

    @pytest.mark.parametrize("language", TOOL_LANGUAGES)
    def test_no_host_file_is_readable_from_a_tool(self, box, language, tmp_path):
        self._hosts(language)
        if self.reads_host_files:
            pytest.skip(f"{self.kind} is not a wall for files: {self.reads_host_files}")
        secret = tmp_path / "secret.txt"
        secret.write_text("the host's secret")
        given = json.dumps({"paths": [str(secret), "/etc/passwd", "/etc/shadow"]})
        try:
            got = json.loads(box.run_tool(language, READING_TOOLS[language], given))
        except GuestError:
            return  # the tool could not even try (no fs module): nothing was read
        assert got == [], f"the tool read {len(got)} host file(s): {str(got)[:80]!r}"

    @pytest.mark.parametrize("language", TOOL_LANGUAGES)
    def test_a_plain_process_tool_does_read_host_files(self, box, language, tmp_path):
        """The other side of the exception: where a kind says it is no wall, it is not."""
        self._hosts(language)
        if not self.reads_host_files:
            pytest.skip(f"{self.kind} is a wall for files (test_no_host_file_is_readable...)")
        secret = tmp_path / "secret.txt"
        secret.write_text("the host's secret")
        given = json.dumps({"paths": [str(secret)]})
        assert json.loads(box.run_tool(language, READING_TOOLS[language], given)) == \
            ["the host's secret"]

    # --- the harness floor -------------------------------------------------------------------
    def test_the_floor_call_runs_fast_or_is_not_supported(self, box):
        if sandbox_class(self.kind).floor_call is Sandbox.floor_call:
            with pytest.raises(NotSupported, match="floor_call"):
                box.floor_call()
            return
        started = time.perf_counter()
        for _ in range(3):
            assert box.floor_call() is None
        assert time.perf_counter() - started < FLOOR_SECONDS

    def test_extra_figures_are_a_dict_of_numbers(self, box):
        extras = box.extra_figures(3)
        assert isinstance(extras, dict)
        assert all(isinstance(value, float | int) for value in extras.values()), extras


def contract_tests() -> list[str]:
    """Names of the contract's tests (for a check that no kind file lost them)."""
    return [name for name, _ in inspect.getmembers(SandboxContract, inspect.isfunction)
            if name.startswith("test_")]
