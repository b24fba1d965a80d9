"""The capacity of a running stack: the highest open-loop rate of the probe's
reads at which the steady state keeps its p99 within a bound.

Rates are offered in rising order, each for a few seconds, until one fails:
its p99 over the bound, a failed read, or reads that did not get a free
client worker in time (the client itself saturated, which says nothing of the
stack). The capacity is the last rate that passed; the figures of every rate
tried are kept, for the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from time import sleep

from dws.probe import Probe
from dws.replay_report import latency_figures

P99_BOUND_S = 0.5
RATES = (50, 100, 150, 200, 250, 300, 400, 500)
SECONDS_PER_RATE = 8.0
# A rate's first second warms the connections; it is not judged.
WARM_UP_S = 1.0
# Longer than this between due and sent: the client, not the stack, was short.
MAX_QUEUED_S = 0.1
# What a replay offers: half the capacity, and never under this.
MIN_OFFERED_RPS = 150.0


@dataclass
class Capacity:
    rps: float  # the highest rate that passed (0: none did)
    bound_ms: float
    tried: list[dict] = field(default_factory=list)

    def report(self) -> dict:
        return {"capacity_rps": self.rps, "p99_bound_ms": self.bound_ms, "tried": self.tried}


def offered_rate(found: Capacity) -> float:
    """The open-loop rate a replay offers: half the capacity, at least
    MIN_OFFERED_RPS (above the capacity itself when that is lower)."""
    return max(MIN_OFFERED_RPS, found.rps / 2)


def measure(
    base_url: str,
    auth: tuple[str, str],
    run_id: str,
    *,
    verify: str | bool = True,
    rates: Sequence[float] = RATES,
    seconds: float = SECONDS_PER_RATE,
    bound_s: float = P99_BOUND_S,
) -> Capacity:
    """Offer each of `rates` in turn (reads only: no writer, no visitor)
    until one breaks the bound; the capacity found."""
    found = Capacity(0.0, bound_s * 1000)
    for rate in rates:
        probe = Probe(
            base_url,
            auth,
            f"{run_id}-cap{int(rate)}",
            open_rate=rate,
            write_every=0,
            session_every=0,
            verify=verify,
        )
        probe.set_step("capacity")
        probe.start()
        sleep(seconds)
        probe.finish()
        judged = [r for r in probe.records if r.started - probe.started_at >= WARM_UP_S]
        figures = latency_figures(judged)
        failed = sum(r.failed for r in judged)
        queued = max((r.queued for r in judged), default=0.0)
        passed = bool(judged) and not failed and figures["p99_ms"] <= bound_s * 1000
        client_short = queued > MAX_QUEUED_S
        found.tried.append(
            {
                "rps": rate,
                "requests": len(judged),
                "failures": failed,
                "p50_ms": figures["p50_ms"],
                "p99_ms": figures["p99_ms"],
                "max_queued_ms": round(queued * 1000, 1),
                "passed": passed and not client_short,
            }
        )
        if not passed or client_short:
            break
        found.rps = rate
    return found
