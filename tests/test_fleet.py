"""labkit.fleet and labkit.published: from measured sandboxes to servers and dollars."""

import math
import re

import pytest

from labkit import fleet, published, scaling
from labkit.reference import figures


def result(kind, start_ms, mem_mb):
    return {"kind": kind, "start_ms_p50": start_ms, "mem_mb_per_instance": mem_mb}


def test_a_light_fast_sandbox_is_bound_by_the_work_itself():
    fit = fleet.fit_kind(result("wasm", 0.01, 0.01))
    assert fit.binding == "cpu"
    # 2 cores / (0.04 + a hair of start-up) -> just under 50
    assert fit.sessions_per_server == 49


def test_a_heavy_sandbox_is_bound_by_memory():
    fit = fleet.fit_kind(result("docker", 200, 500))
    assert fit.binding == "memory"
    assert fit.sessions_per_server == math.floor(8 * 1024 / 510)


def test_many_slow_starts_make_start_up_the_binding_constraint():
    session = fleet.Session(cpu_share=0.01, working_set_mb=1, tool_calls_per_minute=60)
    fit = fleet.fit_kind(result("podman", 130, 1), session)
    assert fit.startup_share == pytest.approx(0.13)
    assert fit.binding == "start-up"
    assert fit.sessions_per_server == math.floor(2 / 0.14)


def test_start_up_that_eats_the_whole_server_fits_nothing():
    session = fleet.Session(tool_calls_per_minute=600)
    fit = fleet.fit_kind(result("slow", 1000, 1), session, fleet.Server(cores=2))
    assert fit.sessions_per_server == 0 and fit.binding == "start-up"
    assert fleet.fleet(fit, 1e6).servers == math.inf


def test_fleet_rounds_servers_up_and_prices_them():
    fit = fleet.fit_kind(result("wasm", 0.01, 0.01))
    us = fleet.fleet(fit, 15e6)
    price, _ = scaling.ec2_server_price()
    assert us.servers == math.ceil(15e6 / 49)
    assert us.cpus == us.servers * 2
    assert us.dollars_per_hour == pytest.approx(us.servers * price)
    assert us.dollars_per_agent_hour == pytest.approx(us.dollars_per_hour / 15e6)


def test_service_prices_follow_their_billing_models():
    small = fleet.fit_kind(result("wasm", 0.01, 0.01))
    big = fleet.fit_kind(result("docker", 200, 500))
    # Lambda bills memory held: the big sandbox costs more per agent-hour
    assert fleet.lambda_dollars_per_agent_hour(big) > 5 * fleet.lambda_dollars_per_agent_hour(
        small)
    # Workers bills CPU time and requests only: the same session costs the same
    assert fleet.workers_dollars_per_agent_hour(small) == pytest.approx(
        0.04 * 3600 * 1000 / 1e6 * 0.02 + 360 / 1e6 * 0.30)
    assert all("http" in source for source in fleet.price_sources())


@pytest.mark.parametrize("make", [
    lambda: fleet.Session(cpu_share=0), lambda: fleet.Session(cpu_share=1.5),
    lambda: fleet.Session(working_set_mb=-1), lambda: fleet.Server(cores=0),
    lambda: fleet.Server(memory_gb=float("nan")),
])
def test_bad_session_or_server_is_refused_by_name(make):
    with pytest.raises(ValueError, match=r"(cpu_share|working_set_mb|cores|memory_gb) must"):
        make()


def test_every_published_point_matches_its_reference_row():
    metrics = {f.metric for f in figures()}
    for point in published.PUBLISHED:
        row = point.figure
        assert row.metric in metrics
        text = f"{row.value} {row.quote}".replace(",", "")
        numbers = {float(n) for n in re.findall(r"\d+(?:\.\d+)?", text)}
        # the number on the chart is in the row, or converted from it: µs -> ms (/1000),
        # or seconds for 100 containers -> ms for one (x10)
        readings = {v for n in numbers for v in (n, n / 1000, round(n * 10, 6))}
        assert point.value in readings, (point.label, row.value)


def test_published_refuses_unknown_measures():
    with pytest.raises(ValueError, match="valid ones are: mem_mb, per_second, start_ms"):
        published.published("joules")


def test_a_bigger_server_rents_for_more_m7g_large_units():
    price, _ = scaling.ec2_server_price()
    assert fleet.server_price_per_hour(fleet.Server(2, 8)) == pytest.approx(price)
    assert fleet.server_price_per_hour(fleet.Server(16, 64)) == pytest.approx(8 * price)
    assert fleet.server_price_per_hour(fleet.Server(2, 64)) == pytest.approx(8 * price)
