"""The benchmark's report without running it: ratios, goals, the table and
the chart drawn from a report dict (no nginx, gunicorn, MariaDB or wrk)."""

from __future__ import annotations

import json

import matplotlib.image
import pytest

from dws import bench, bench_report, bench_stack, cli
from dws.bench_chart import chart_figure, chart_path, write_chart
from dws.commands import bench as bench_command

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# name: (req/s, p50 ms, p99 ms, server CPU ms per request, database round trips per request)
FIGURES = {
    "static": (30000.0, 0.5, 6.0, 0.03, 0.0),
    "hello": (1000.0, 30.0, 90.0, 2.0, 0.0),
    "peer": (400.0, 80.0, 150.0, 5.0, 3.0),
    "lookup": (950.0, 32.0, 110.0, 2.1, 1.0),
    "page": (700.0, 45.0, 140.0, 2.8, 1.0),
}


def _target(rps: float, p50: float, p99: float, cpu: float, trips: float) -> dict:
    return {
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "errors": 0,
        "requests": int(rps * 12),
        "cpu_ms_per_request": {"server": cpu},
        "db_per_request": {"round_trips": trips},
    }


@pytest.fixture
def report() -> dict:
    targets = {name: _target(*figures) for name, figures in FIGURES.items()}
    bench_report.add_ratios(targets)
    return {
        "targets": targets,
        "settings": {"mode": "full", "connections": 32, "instances": 3, "workers_per_instance": 5},
        "machine": {
            "date": "2026-11-27T08:00:00Z",
            "cpu_count": 2,
            "cpu_model": "x86",
            "python": "3.11.7",
        },
        "memory": {"bootservice_worker_rss_mb_max": 60.0, "worker_rss_mb": {"bootservice": [60.0]}},
        "goals": bench_report.goals(targets, 60.0),
    }


def test_ratios_include_the_tail_against_hello(report):
    lookup = report["targets"]["lookup"]
    assert lookup["x_hello"] == 0.95 and lookup["x_peer"] == 2.38
    assert lookup["cpu_x_hello"] == 0.95
    assert lookup["p99_x_hello"] == 1.22
    assert report["targets"]["hello"]["p99_x_hello"] == 1.0


def test_goals_name_the_tail_and_cpu_targets(report):
    goals = report["goals"]
    assert goals["lookup p99 <= 1.3x hello's p99"] is True
    assert goals["lookup CPU per request >= 0.9x hello"] is True
    assert goals["lookup >= 2.0x peer"] is True
    report["targets"]["lookup"]["p99_ms"] = 118.0  # 1.31x hello's 90 ms
    bench_report.add_ratios(report["targets"])
    assert bench_report.goals(report["targets"], None)["lookup p99 <= 1.3x hello's p99"] is False


def test_table_shows_tail_ratio_and_database_round_trips(report):
    lines = bench_report.table(report["targets"]).splitlines()
    assert "p99 x hello" in lines[1] and "db trips" in lines[1]
    (lookup,) = [line for line in lines if line.startswith("lookup ")]
    assert lookup.split()[7] == "1.22"  # p99 x hello
    assert lookup.split()[-1] == "1.00"  # round trips per request
    (peer,) = [line for line in lines if line.startswith("peer ")]
    assert peer.split()[-1] == "3.00"


def test_chart_is_a_png_with_every_target(report, tmp_path):
    out = write_chart(report, tmp_path / "new" / "bench.png")
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC
    pixels = matplotlib.image.imread(out)
    height, width, _channels = pixels.shape
    assert (width, height) == (990, 675)  # 11 x 7.5 inches at 90 dpi
    # Not a blank canvas: bars, labels and text in more than a few colours.
    assert len({tuple(p) for p in pixels.reshape(-1, pixels.shape[2])[::97]}) > 20


def test_chart_bars_and_labels_are_the_report_figures(report):
    fig = chart_figure(report)
    rps_ax, latency_ax = fig.axes[:2]
    names = list(FIGURES)
    assert [t.get_text() for t in latency_ax.get_xticklabels()] == names
    assert [bar.get_height() for bar in rps_ax.patches] == [f[0] for f in FIGURES.values()]
    heights = [bar.get_height() for bar in latency_ax.patches]
    assert heights == [f[1] for f in FIGURES.values()] + [f[2] for f in FIGURES.values()]
    assert [t.get_text() for t in latency_ax.get_legend().get_texts()] == ["p50", "p99"]
    labels = {t.get_text() for ax in (rps_ax, latency_ax) for t in ax.texts}
    assert {"30000", "950", "0.5", "110.0"} <= labels  # every bar carries its value
    assert rps_ax.get_yscale() == latency_ax.get_yscale() == "log"
    assert "wrk at 32 connections" in fig.get_suptitle()


def test_chart_goes_beside_the_report_never_over_it(tmp_path):
    assert chart_path(tmp_path / "bench.json") == tmp_path / "bench.png"
    assert chart_path(tmp_path / "report") == tmp_path / "report.png"
    assert chart_path(tmp_path / "odd.png") == tmp_path / "odd.png.png"


def test_bench_json_writes_the_chart_beside_it(report, tmp_path, monkeypatch, capsys):
    # The run itself is replaced: this checks only what main() does with a report.
    monkeypatch.setattr(bench, "run", lambda _args, _settings: report)
    monkeypatch.setattr(bench_command.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(bench_command.signal, "signal", lambda *_args: None)
    out = tmp_path / "reports" / "bench.json"
    assert cli.main(["bench", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["targets"].keys() == FIGURES.keys()
    chart = tmp_path / "reports" / "bench.png"
    assert chart.read_bytes()[:8] == PNG_MAGIC
    printed = capsys.readouterr().out
    assert f"report: {out}\nchart: {chart}\n" in printed


def test_bench_runs_the_deployed_request_path_settings_of_stack_yml():
    settings = bench_stack.stack_settings()
    # The deployed replicas' worker count and trusted proxy, not gunicorn's defaults.
    assert settings["WEB_CONCURRENCY"] == "2"
    assert settings["TRUSTED_PROXIES"] == "1"
    assert set(settings) <= set(bench_stack.STACK_SETTINGS)


def test_stack_settings_read_the_list_form_of_environment(tmp_path):
    stack = tmp_path / "stack.yml"
    stack.write_text(
        "services:\n  bootservice:\n    environment:\n"
        "      - WEB_CONCURRENCY=3\n      - DB_HOST=mysql\n      - READ_CACHE_LEASE=0.2\n"
    )
    assert bench_stack.stack_settings(stack) == {"WEB_CONCURRENCY": "3", "READ_CACHE_LEASE": "0.2"}
