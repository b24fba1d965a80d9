"""A bootservice replica's start-up, measured on one Docker engine.

`python -m dws.startup_bench NAME=IMAGE[+--health-interval=2s,...] ...`
starts each image's container as the stack configures a replica (read-only,
a tmpfs on /tmp, 1 CPU, 384 MB, two workers, a database host that is never
reached: /healthz needs none), in interleaved rounds so that every variant
meets the same machine load, and measures per start:

- ``answer_s``: container start (State.StartedAt) to the first 200 from
  /healthz, polled every 20 ms from the host;
- ``healthy_s``: container start to the end of the first passing healthcheck
  (what Swarm waits for);
- ``cpu_s``: CPU the container used until it turned healthy (its cgroup);

and, with ``--probes N``, the CPU one healthcheck probe costs: inside the
container (its cgroup) and in the engine (dockerd, containerd and the shims,
which run every probe through `docker exec`-like machinery).

Prints a table of medians and writes the raw figures as JSON. Traffic goes
only to the containers it started; they are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import requests

from dws.swarm_timing import parse_timestamp
from dws.util import docker

ENV = {
    "DB_HOST": "db.invalid",
    "DB_USER": "dws",
    "DB_PASSWORD": "never-used",
    "DB_NAME": "citydb",
    "SECRET_KEY": "startup-bench-" + "k" * 32,
    "WEB_CONCURRENCY": "2",
    "TRUSTED_PROXIES": "1",
}
ENGINE_PROCESSES = ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "runc")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def engine_cpu() -> float:
    """CPU seconds the engine's processes have used so far (user + system)."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name in ENGINE_PROCESSES:
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def container_cpu(cid: str) -> float | None:
    """CPU seconds a container has used (cgroup v1 or v2); None if unknown."""
    for path in (
        f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage",
        f"/sys/fs/cgroup/cpu,cpuacct/docker/{cid}/cpuacct.usage",
    ):
        try:
            return int(Path(path).read_text()) / 1e9
        except OSError:
            continue
    for path in (f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat",):
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
        except OSError:
            continue
    return None


def inspect(cid: str) -> dict:
    return json.loads(docker("inspect", cid, host=""))[0]


def start_once(image: str, extra: list[str], timeout: float = 90) -> dict:
    """One container from start to healthy; its figures."""
    args = ["run", "-d", "--read-only", "--tmpfs", "/tmp:size=64m", "--cpus", "1"]
    args += ["--memory", "384m", *extra]
    for k, v in ENV.items():
        args += ["-e", f"{k}={v}"]
    cid = docker(*args, image, host="").strip()
    try:
        info = inspect(cid)
        ip = next(iter(info["NetworkSettings"]["Networks"].values()))["IPAddress"]
        started = parse_timestamp(info["State"]["StartedAt"])
        answered = None
        deadline = time.monotonic() + timeout
        with requests.Session() as s:
            while answered is None and time.monotonic() < deadline:
                try:
                    if s.get(f"http://{ip}:8888/healthz", timeout=1).status_code == 200:
                        answered = time.time()
                except requests.RequestException:
                    time.sleep(0.02)
        healthy = None
        while healthy is None and time.monotonic() < deadline:
            health = inspect(cid)["State"].get("Health") or {}
            ok = [e for e in health.get("Log") or [] if e.get("ExitCode") == 0]
            if ok:
                healthy = parse_timestamp(ok[0]["End"])
            else:
                time.sleep(0.1)
        cpu = container_cpu(cid)
        return {
            "answer_s": round(answered - started, 3) if answered and started else None,
            "healthy_s": round(healthy - started, 3) if healthy and started else None,
            "cpu_s": round(cpu, 3) if cpu is not None else None,
            "_cid": cid,
        }
    except BaseException:
        docker("rm", "-f", cid, host="", check=False)
        raise


def probe_cost(cid: str, command: list[str], count: int) -> dict:
    """CPU of ``count`` runs of the healthcheck command in a running container."""
    inside, engine = container_cpu(cid), engine_cpu()
    started = time.monotonic()
    for _ in range(count):
        docker("exec", cid, *command, host="", check=False)
    wall = time.monotonic() - started
    after = container_cpu(cid)
    return {
        "probe_cpu_ms": round((after - inside) / count * 1000, 1) if after and inside else None,
        "engine_cpu_ms": round((engine_cpu() - engine) / count * 1000, 1),
        "probe_wall_ms": round(wall / count * 1000, 1),
    }


def parse_variant(spec: str) -> tuple[str, tuple[str, list[str]]]:
    """`NAME=IMAGE[+OPTION,...]` -> (NAME, (IMAGE, [OPTION, ...]))."""
    name, _, rest = spec.partition("=")
    image, _, options = rest.partition("+")
    if not name or not image:
        raise ValueError(f"{spec!r}: expected NAME=IMAGE[+RUN-OPTION,...]")
    return name, (image, [o for o in options.split(",") if o])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dws.startup_bench", description=__doc__)
    parser.add_argument("variants", nargs="+", help="NAME=IMAGE[+RUN-OPTION,...]")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--probes", type=int, default=0, help="probes per variant to cost")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    try:
        variants = dict(parse_variant(spec) for spec in args.variants)
    except ValueError as exc:
        parser.error(str(exc))
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    costs: dict[str, dict] = {}
    for n in range(args.rounds):
        for name, (image, extra) in variants.items():
            fig = start_once(image, extra)
            cid = fig.pop("_cid")
            if args.probes and n == args.rounds - 1:
                test = inspect(cid)["Config"]["Healthcheck"]["Test"][1:]
                costs[name] = probe_cost(cid, test, args.probes)
            docker("rm", "-f", cid, host="", check=False)
            runs[name].append(fig)
            print(f"round {n + 1} {name}: {fig}", flush=True)

    def med(name: str, key: str) -> float | None:
        values = [r[key] for r in runs[name] if r[key] is not None]
        return round(statistics.median(values), 2) if values else None

    print(f"\n{'variant':<18}{'answer s':>10}{'healthy s':>11}{'cpu s':>8}{'probe ms':>10}")
    for name in variants:
        c = costs.get(name, {})
        probe = (
            f"{c['probe_cpu_ms']}+{c['engine_cpu_ms']}"
            if c.get("probe_cpu_ms") is not None
            else "-"
        )
        print(
            f"{name:<18}{med(name, 'answer_s')!s:>10}{med(name, 'healthy_s')!s:>11}"
            f"{med(name, 'cpu_s')!s:>8}{probe:>10}"
        )
    print("medians over rounds; probe: CPU in the container + CPU in the engine, per probe")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": runs, "probe_costs": costs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
