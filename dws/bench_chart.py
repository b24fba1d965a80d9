"""The benchmark's figures as a picture: `dws bench --json PATH` also writes
PATH with the suffix .png (`chart_path`).

Two panels of bars, one group per target in the report's order: requests per
second, and the p50 and p99 latency. Both axes are logarithmic because the
targets span three orders of magnitude (nginx's own answer against a page
behind the database); every bar carries its value, so nothing has to be read
off the scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

RPS_COLOR = "tab:blue"
P50_COLOR = "tab:green"
P99_COLOR = "tab:red"


def _label(ax: Any, bars: Any, fmt: str) -> None:
    ax.bar_label(bars, labels=[fmt.format(b.get_height()) for b in bars], fontsize="x-small")


def chart_figure(report: dict[str, Any]) -> Figure:
    """The figure of `report` (the benchmark's JSON as a dict)."""
    targets: dict[str, dict[str, Any]] = report["targets"]
    names = list(targets)
    xs = range(len(names))
    # Built without pyplot, on the Agg canvas: no global state, no display.
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    FigureCanvasAgg(fig)
    rps_ax, lat_ax = fig.subplots(2, 1, sharex=True)

    bars = rps_ax.bar(xs, [targets[n]["rps"] for n in names], color=RPS_COLOR)
    _label(rps_ax, bars, "{:.0f}")
    rps_ax.set_yscale("log")
    rps_ax.set_ylabel("requests / s (log)")
    rps_ax.set_title("throughput (median of the rounds)")

    width = 0.38
    p50 = lat_ax.bar(
        [x - width / 2 for x in xs],
        [targets[n]["p50_ms"] for n in names],
        width,
        color=P50_COLOR,
        label="p50",
    )
    p99 = lat_ax.bar(
        [x + width / 2 for x in xs],
        [targets[n]["p99_ms"] for n in names],
        width,
        color=P99_COLOR,
        label="p99",
    )
    _label(lat_ax, p50, "{:.1f}")
    _label(lat_ax, p99, "{:.1f}")
    lat_ax.set_yscale("log")
    lat_ax.set_ylabel("latency ms (log)")
    lat_ax.set_title("latency (median of the rounds' percentiles)")
    lat_ax.legend(loc="upper left")
    lat_ax.set_xticks(list(xs), names)

    settings = report.get("settings", {})
    machine = report.get("machine", {})
    fig.suptitle(
        f"dws bench ({settings.get('mode', '?')}): wrk at {settings.get('connections', '?')} "
        f"connections through nginx, {settings.get('instances', '?')} instances x "
        f"{settings.get('workers_per_instance', '?')} workers\n"
        f"{machine.get('date', '?')}, {machine.get('cpu_count', '?')} x "
        f"{machine.get('cpu_model', '?')}, Python {machine.get('python', '?')}",
        fontsize="medium",
    )
    return fig


def chart_path(json_path: Path) -> Path:
    """Where the chart of the report at `json_path` goes: beside it, .png."""
    if json_path.suffix == ".png":  # never over the report itself
        return json_path.with_name(json_path.name + ".png")
    return json_path.with_suffix(".png")


def write_chart(report: dict[str, Any], path: Path) -> Path:
    """Write `report`'s chart as a PNG at `path`, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    chart_figure(report).savefig(path, dpi=90, format="png")
    return path
