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


# Bills per agent-hour, against sums done by hand from the list prices in data/:
# Lambda $0.0000166667 per GB-s, $0.20 per million requests, 128 MB minimum, 15-minute
# maximum; Workers $0.02 per million CPU-ms, $0.30 per million requests; Durable Objects
# $12.50 per million GB-s; Dynamic Workers $0.002 per unique Worker per day.
LAMBDA_GB_S = 0.0000166667


def test_lambda_bills_its_128_mb_floor_four_invocations_and_every_request():
    small = fleet.fit_kind(result("wasm", 0.01, 0.01))  # 10.01 MB, 4% CPU -> 70.8 MB needed
    bill = fleet.lambda_bill(small)
    duration, requests = bill.lines
    assert duration.dollars == pytest.approx(128 / 1024 * 3600 * LAMBDA_GB_S)  # 0.0075
    assert duration.dollars == pytest.approx(0.0075, rel=1e-4)
    assert requests.dollars == pytest.approx((4 + 360) * 0.20 / 1e6)
    assert bill.total == pytest.approx(0.0075 + 364 * 0.2e-6, rel=1e-4)
    assert "128 MB minimum" in duration.why and "15-minute" in requests.why


def test_lambda_bills_the_memory_or_the_cpu_a_session_needs_above_the_floor():
    big = fleet.fit_kind(result("docker", 200, 500))  # 510 MB
    assert fleet.lambda_bill(big).lines[0].dollars == pytest.approx(
        510 / 1024 * 3600 * LAMBDA_GB_S)
    busy = fleet.fit_kind(result("wasm", 0.01, 0.01), fleet.Session(cpu_share=0.5))
    # half a vCPU = 0.5 x 1,769 MB = 884.5 MB, configured in whole MB: 885
    assert fleet.lambda_bill(busy).lines[0].dollars == pytest.approx(
        885 / 1024 * 3600 * LAMBDA_GB_S)


def test_workers_bill_includes_durable_object_duration_and_shows_dynamic_worker_loads():
    fit = fleet.fit_kind(result("v8", 4, 1.6))
    bill = fleet.workers_bill(fit)
    lines = {line.item: line for line in bill.lines}
    assert lines["CPU time"].dollars == pytest.approx(0.04 * 3600 * 1000 / 1e6 * 0.02)  # 0.00288
    assert lines["requests"].dollars == pytest.approx(360 / 1e6 * 0.30)
    assert lines["Durable Object duration"].dollars == pytest.approx(
        0.128 * 3600 / 1e6 * 12.50)  # 460.8 GB-s (Cloudflare counts 128 MB as 0.128 GB)
    loads = lines["Dynamic Worker loads"]
    assert loads.dollars == pytest.approx(360 * 0.002)  # $0.72 per agent-hour
    assert not loads.included and "beta" in loads.why
    assert bill.total == pytest.approx(0.00288 + 0.000108 + 0.00576)
    counted = fleet.workers_bill(fit, include_beta_waived=True)
    assert counted.total == pytest.approx(bill.total + 0.72)
    assert fleet.workers_dollars_per_agent_hour(fit) == pytest.approx(bill.total)


def test_every_bill_line_is_printed_with_in_or_out_and_why():
    fit = fleet.fit_kind(result("v8", 4, 1.6))
    for bill in (fleet.lambda_bill(fit), fleet.workers_bill(fit)):
        text = bill.text()
        for line in bill.lines:
            assert line.item in text and line.why in text
        assert text.count("[out]") == sum(not line.included for line in bill.lines)
    assert all("http" in source for source in fleet.price_sources())
    assert any("Durable Objects" in source for source in fleet.price_sources())


def test_a_recorded_result_is_labelled_recorded():
    fit = fleet.fit_kind({**result("podman", 160, 0.3), "recorded": True})
    assert fit.recorded and fit.label == "podman (RECORDED)"
    assert fleet.fit_kind(result("wasm", 0.01, 0.01)).label == "wasm"


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
