"""The tutorial replayed on the three-node swarm lab, with zero failed requests.

`run(lab)` is what `dws replay` and the e2e tier call.

The tutorial's ten steps, with build.py and stack.yml exactly as users run
them (README, "Deploy on your own swarm"), against the lab's manager
(DOCKER_HOST=tcp://cloud01:2375): deploy, balance, heal, drain, scale, update,
rollback, auto-rollback, verify, then the stack is removed. A probe sends
pages, API reads and authenticated writes through the lab's front load
balancer the whole time.
"""

from __future__ import annotations

import calendar
import json
import os
import secrets
import subprocess
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import requests

from dws import deploy as deploy_mod
from dws import lab as lablib
from dws import swarm_timing
from dws.probe import REPORT, Probe, Record, Swarm, wait_for
from dws.replay_report import (
    MAX_RETRIED_SHARE,
    MAX_SECONDS,
    MAX_WRITE_SECONDS,
    RETRIES_EXPECTED,
    SLOW_BOUND,
    Audit,
    audit_writes,
    step_stats,
    timeline_png,
    violations,
)

REPO = lablib.REPO
STACK = deploy_mod.STACK
BOOT, NGINX, MYSQL = deploy_mod.BOOT, deploy_mod.NGINX, deploy_mod.MYSQL
TITLE = {"1.0": "国家(地区)列表", "2.0": "国家(地区)列表-2.0版本"}
DB_NODE = deploy_mod.DB_NODE  # labelled dws.db=true: never the node that gets drained
DRAIN_NODE = "cloud02"
WORKERS = ("cloud02", "cloud03")
TIMELINE = REPORT.with_name("replay-timeline.png")
CRASH_NODE = "cloud02"  # a worker with replicas, not the database's node
# The service whose tasks a step's swarm-time breakdown follows (default BOOT).
TIMED_SERVICE = {"db-restart": MYSQL}


image = deploy_mod.image


def say(message: str) -> None:
    """One progress line (visible with -s)."""
    print(f"replay: {message}", flush=True)


def cli(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    """Run a user-facing command (docker CLI, build.py) and return stdout; assert success."""
    proc = subprocess.run(
        args, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, (
        f"`{' '.join(args[:4])}` failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}"
    )
    return proc.stdout


def http_get(url: str, timeout: float = 5) -> requests.Response:
    """A GET with a closed connection (tests run with warnings as errors)."""
    with requests.Session() as s:
        resp = s.get(url, timeout=timeout)
        resp.close()
        return resp


def nodes_answer(lab: lablib.Lab, swarm: Swarm) -> dict[str, int]:
    """GET /countries on port 80 of every Active node; every one must answer 200."""
    codes = {}
    for node in swarm.active_nodes():
        codes[node] = http_get(f"http://{lab.nodes[node]}/countries").status_code
    assert all(c == 200 for c in codes.values()), f"Active nodes on port 80: {codes}"
    return codes


class Steps:
    """Times the steps and labels the probe's records with the current step."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.rows: list[dict] = []
        self.spans: list[dict] = []  # name, start, end (monotonic), wall_end

    @contextmanager
    def step(self, name: str):
        """Run one step: the yielded dict collects its figures."""
        self.probe.set_step(name)
        row: dict = {"name": name}
        self.rows.append(row)
        say(f"--- {name}")
        started = time.monotonic()
        self.spans.append({"name": name, "start": started, "end": started})
        try:
            yield row
        finally:
            row["seconds"] = round(time.monotonic() - started, 1)
            self.spans[-1]["end"] = time.monotonic()
            self.spans[-1]["wall_end"] = swarm_timing.wall_clock()


def mark_command(row: dict) -> None:
    """Note the wall time of the step's `docker` command: the origin of the
    step's swarm-time breakdown in the report."""
    row["command_at"] = swarm_timing.wall_clock()


def wait_update(
    swarm: Swarm, state: str, since: float, timeout: float, seen: dict | None = None
) -> dict:
    """Wait until the service's UpdateStatus reaches ``state`` for an update started after
    ``since`` (wall clock); return the UpdateStatus. ``seen`` collects {state: message}."""

    def check():
        status = swarm.service(BOOT).get("UpdateStatus") or {}
        started = status.get("StartedAt", "")
        # RFC 3339 with nanoseconds, in UTC: compare at second precision.
        t = calendar.timegm(time.strptime(started[:19], "%Y-%m-%dT%H:%M:%S")) if started else 0
        if t < since - 1:
            return None
        if seen is not None:
            seen.setdefault(status.get("State"), status.get("Message"))
        return status if status.get("State") == state else None

    return wait_for(f"{BOOT} update state {state}", check, timeout)


def assert_every_replica_serves(probe: Probe, swarm: Swarm, version: str, timeout: float = 60):
    """Every running replica (by host name) answers pages with ``version``'s title."""
    hosts = swarm.container_hosts(BOOT)
    since = time.monotonic()

    def seen():
        pages = [r for r in probe.since(since) if r.kind == "page" and r.status == 200]
        wrong = [r for r in pages if r.title != TITLE[version] or r.version != version]
        assert not wrong, f"pages after the update not at {version}: {wrong[:3]}"
        return hosts <= {r.served_by for r in pages}

    wait_for(f"pages from all {len(hosts)} replicas at {version}", seen, timeout, interval=1.0)
    return len(hosts)


def deploy(lab: lablib.Lab, swarm: Swarm, row: dict) -> None:
    """Step 1: what `dws lab deploy` does (build and push, secrets, label, network,
    stack deploy), then every Active node answers on port 80.

    A stack already running (after `dws tutorial`, or an update in flight) is
    removed first: the replay starts, as the tutorial does, from a fresh deploy,
    so no earlier update's monitor window turns its `docker stop` into a rollback.
    """
    if deploy_mod.stack_exists(lab):
        say("removing the running stack first: the replay starts from a fresh deploy")
        deploy_mod.stack_removed(lab)
    try:
        figures = deploy_mod.deploy(lab, say=lambda line: say(line.strip()))
    except deploy_mod.DeployError as exc:
        raise AssertionError(str(exc)) from exc
    row["build_seconds"] = figures["build_seconds"]
    row["converge_seconds"] = figures["converge_seconds"]
    nodes_answer(lab, swarm)


def settle_into_step() -> None:
    """Let the requests of the previous step finish before a fault, so that
    every request the fault touches is counted in the fault's step."""
    time.sleep(MAX_SECONDS)


def db_restart(lab: lablib.Lab, swarm: Swarm, env: dict[str, str], probe: Probe, row: dict) -> None:
    """`docker service update --force dws_mysql` under traffic: requests that
    need the database answer 503 quickly, nginx's own health answers all the
    while, and the database is back with every acknowledged write (audited
    after the run)."""
    settle_into_step()
    before = {t["ID"] for t in swarm.tasks(MYSQL)}
    started = time.monotonic()
    mark_command(row)
    cli(["docker", "service", "update", "--detach", "--force", MYSQL], env)
    health: Counter = Counter()

    def back() -> bool:
        # nginx answers without the database; counted while we wait.
        try:
            health[http_get(f"{lab.lb_url}/nginx-health", timeout=5).status_code] += 1
        except requests.RequestException as exc:
            health[type(exc).__name__] += 1
        tasks = swarm.converged(MYSQL, 1)
        return bool(tasks and not {t["ID"] for t in tasks} & before) and (
            http_get(f"{lab.lb_url}/readyz").status_code == 200
        )

    wait_for("the database back (a new task, /readyz 200)", back, 300, interval=0.5)
    row["database_back_seconds"] = round(time.monotonic() - started, 1)
    row["nginx_health_during"] = {str(k): v for k, v in health.items()}
    assert set(health) == {200}, f"nginx's own health failed during the restart: {health}"
    answered_503 = [r for r in probe.of_step("db-restart") if r.status == 503]
    row["worst_503_seconds"] = round(max((r.seconds for r in answered_503), default=0.0), 3)
    row["answered_503"] = len(answered_503)
    nodes_answer(lab, swarm)
    say(
        f"database back in {row['database_back_seconds']} s; {len(answered_503)} requests "
        f"answered 503, the slowest in {row['worst_503_seconds']} s"
    )


def wait_until_replaced(swarm: Swarm, node: str, replicas: int, started: float, row: dict) -> None:
    """After `node` was killed at `started` (monotonic): wait until Swarm has
    marked it Down and runs `replicas` bootservice tasks on the other nodes;
    both times go into `row` (`noticed_down_seconds`, `tasks_replaced_seconds`)."""
    wait_for(
        f"{node} Down",
        lambda: swarm.nodes().get(node, {}).get("Status") == "Down",
        120,
        interval=0.5,
    )
    row["noticed_down_seconds"] = round(time.monotonic() - started, 1)
    wait_for(
        f"{replicas} replicas running without {node}",
        lambda: swarm.converged(BOOT, replicas, not_on=node),
        180,
        interval=0.5,
    )
    row["tasks_replaced_seconds"] = round(time.monotonic() - started, 1)


def node_crash(lab: lablib.Lab, swarm: Swarm, row: dict) -> None:
    """Kill a worker with replicas (not the database's) at once; keep the traffic
    going until Swarm has replaced its tasks; bring it back and let it rejoin."""
    node = CRASH_NODE
    assert node != DB_NODE
    before = swarm.converged(BOOT, 6)
    assert before, "bootservice is not 6/6 before the crash"
    on_node = [t for t in before if t["Node"] == node]
    assert on_node, f"no bootservice replica on {node} to lose: {before}"
    row["replicas_lost"] = len(on_node)
    settle_into_step()
    started = time.monotonic()
    mark_command(row)
    lablib.crash_node(node)
    wait_until_replaced(swarm, node, 6, started, row)
    say(
        f"killed {node} ({len(on_node)} replicas): Down after {row['noticed_down_seconds']} s, "
        f"6 replicas elsewhere after {row['tasks_replaced_seconds']} s"
    )
    restarted = time.monotonic()
    lablib.restart_node(lab, node)
    wait_for(
        f"{node} Ready",
        lambda: swarm.nodes().get(node, {}).get("Status") == "Ready",
        180,
        interval=0.5,
    )
    wait_for(f"nginx back on {node}", lambda: swarm.converged(NGINX, 3), 180, interval=0.5)
    row["rejoined_seconds"] = round(time.monotonic() - restarted, 1)
    nodes_answer(lab, swarm)
    say(f"{node} started again on {lab.nodes[node]}: rejoined in {row['rejoined_seconds']} s")


def audit_run(base_url: str, probe: Probe) -> Audit:
    """Every row of the run (by its name tag) from the API, against what the
    writer was told."""
    tag = f"e2e-{probe.run_id}-"
    rows: list[dict] = []
    with requests.Session() as s:
        page = 1
        while True:
            resp = s.get(
                f"{base_url}/api/v1/countries",
                params={"countryname": tag, "rows": 100, "page": page},
                timeout=30,
            )
            assert resp.status_code == 200, f"audit read failed: {resp.status_code} {resp.text}"
            data = resp.json()
            rows += data["list"]
            if not data["hasNextPage"]:
                break
            page += 1
    return audit_writes(probe.acknowledged, probe.unknown, rows)


def run(lab: lablib.Lab, remove_stack: bool = True) -> dict:
    """Steps 1-10 on a running lab: every step's outcome, zero failed requests, no lost
    writes (AssertionError otherwise). Returns the report written to REPORT.

    Step 1 deploys (or re-deploys) the stack; step 10 removes it unless
    ``remove_stack`` is false.
    """
    swarm = Swarm(lab)
    env = dict(os.environ, DOCKER_HOST=lab.manager_host)
    env.pop("DOCKER_CONTEXT", None)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    deploy_mod.ensure_secrets(lab)  # the writer needs the administrator's password
    probe = Probe(lab.lb_url, deploy_mod.admin_credentials(), run_id=secrets.token_hex(3))
    steps = Steps(probe)
    test_started = time.monotonic()
    report: dict = {}
    audit: Audit | None = None
    events = swarm_timing.EventLog(lab, lab.nodes)
    try:
        with steps.step("deploy") as row:
            deploy(lab, swarm, row)
            events.start()
            probe.start()  # step 2: the probe runs for the rest of the test

        with steps.step("balance") as row:

            def balanced():
                return len({r.served_by for r in probe.of_step("balance") if r.served_by}) >= 3

            wait_for("3 different X-Served-By", balanced, 60, interval=1.0)
            time.sleep(3)
            row["served_by"] = len({r.served_by for r in probe.of_step("balance") if r.served_by})
            nodes_answer(lab, swarm)

        with steps.step("heal") as row:
            before = swarm.converged(BOOT, 3)
            assert before, "bootservice is not 3/3 before heal"
            victim = next((t for t in before if t["Node"] in WORKERS), None)
            assert victim, f"no bootservice task on a worker: {before}"
            node, container = swarm.task_container(victim["ID"])
            started = time.monotonic()
            mark_command(row)
            # The tutorial's `docker stop` on the worker, through that node's engine.
            lab.node_docker(node, "stop", container)
            old_ids = {t["ID"] for t in before}
            healed = wait_for(
                "a new task and 3/3 again",
                lambda: (
                    (tasks := swarm.converged(BOOT, 3))
                    and victim["ID"] not in {t["ID"] for t in tasks}
                    and tasks
                ),
                120,
                interval=0.5,
            )
            row["heal_seconds"] = round(time.monotonic() - started, 1)
            assert {t["ID"] for t in healed} - old_ids, "no new task replaced the stopped one"
            say(f"stopped {victim['Name']} on {node}; 3/3 again in {row['heal_seconds']} s")
            nodes_answer(lab, swarm)

        with steps.step("drain") as row:
            with requests.Session() as s:
                name = f"drain-{secrets.token_hex(4)}"
                resp = s.post(
                    f"{lab.lb_url}/api/v1/countries",
                    auth=deploy_mod.admin_credentials(),
                    timeout=10,
                    json={"countryname": name, "countrycode": "DR"},
                )
                assert resp.status_code == 201, resp.text
                written = resp.json()["id"]
            started = time.monotonic()
            mark_command(row)
            cli(["docker", "node", "update", "--availability", "drain", DRAIN_NODE], env)
            wait_for(
                f"no task left on {DRAIN_NODE}",
                lambda: (
                    swarm.converged(BOOT, 3, not_on=DRAIN_NODE)
                    and swarm.converged(NGINX, 2, not_on=DRAIN_NODE)
                ),
                180,
                interval=0.5,
            )
            row["drain_seconds"] = round(time.monotonic() - started, 1)
            assert swarm.tasks(MYSQL)[0]["Node"] == DB_NODE, "the drain moved the database"
            got = http_get(f"{lab.lb_url}/api/v1/countries/{written}")
            assert got.status_code == 200 and got.json()["countryname"] == name, got.text
            nodes_answer(lab, swarm)
            try:
                drained = http_get(f"http://{lab.nodes[DRAIN_NODE]}/countries", timeout=2)
                row["drained_node_port80"] = drained.status_code
            except requests.RequestException as exc:
                row["drained_node_port80"] = type(exc).__name__  # expected: refused
            cli(["docker", "node", "update", "--availability", "active", DRAIN_NODE], env)
            wait_for(
                f"nginx back on {DRAIN_NODE}", lambda: swarm.converged(NGINX, 3), 120, interval=0.5
            )
            nodes_answer(lab, swarm)
            say(
                f"drained {DRAIN_NODE} in {row['drain_seconds']} s "
                f"(its port 80: {row['drained_node_port80']}); Active again"
            )

        with steps.step("scale") as row:
            started = time.monotonic()
            mark_command(row)
            cli(["docker", "service", "scale", "--detach", f"{BOOT}=6"], env)
            wait_for("bootservice 6/6", lambda: swarm.converged(BOOT, 6), 180, interval=1.0)
            row["converge_seconds"] = round(time.monotonic() - started, 1)
            nodes_answer(lab, swarm)

        for name, version, extra in (
            ("update", "2.0", ["--update-parallelism", "2", "--update-delay", "5s"]),
            ("rollback", "1.0", []),
        ):
            with steps.step(name) as row:
                since = time.time()
                started = time.monotonic()
                mark_command(row)
                # The tutorial's commands: `docker service update [--update-parallelism 2
                # --update-delay 5s] --image tcr:5000/myhub/bootservice:<v>-dws`.
                cli(
                    [
                        "docker",
                        "service",
                        "update",
                        "--detach",
                        *extra,
                        "--image",
                        image(version),
                        BOOT,
                    ],
                    env,
                )
                wait_for(
                    f"6 replicas at {version}",
                    lambda v=version: swarm.converged(BOOT, 6, image(v)),
                    300,
                    interval=0.5,
                )
                row["replicas_replaced_seconds"] = round(time.monotonic() - started, 1)
                wait_update(swarm, "completed", since, 300)
                row["update_completed_seconds"] = round(time.monotonic() - started, 1)
                cfg = swarm.service(BOOT)["Spec"]["UpdateConfig"]
                assert (cfg["Parallelism"], cfg.get("Delay"), cfg["Order"]) == (
                    2,
                    5_000_000_000,
                    "start-first",
                ), cfg
                row["replicas_checked"] = assert_every_replica_serves(probe, swarm, version)
                nodes_answer(lab, swarm)
                say(
                    f"{name} to {version}: replicas replaced in "
                    f"{row['replicas_replaced_seconds']} s, update completed (after monitor) "
                    f"in {row['update_completed_seconds']} s"
                )

        with steps.step("auto-rollback") as row:
            since = time.time()
            started = time.monotonic()
            mark_command(row)
            cli(
                ["docker", "service", "update", "--detach", "--image", image("2.1-broken"), BOOT],
                env,
            )
            states: dict = {}
            wait_update(swarm, "rollback_completed", since, 400, seen=states)
            row["rolled_back_seconds"] = round(time.monotonic() - started, 1)
            # Swarm started the rollback itself (failure_action: rollback), e.g.
            # "update rolled back due to failure or early termination of task ...".
            assert "rollback_started" in states, f"no automatic rollback seen: {states}"
            row["trigger"] = states["rollback_started"]
            spec_image = swarm.service(BOOT)["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
            assert spec_image.startswith(image("1.0")), spec_image
            wait_for("6 replicas at 1.0", lambda: swarm.converged(BOOT, 6, image("1.0")), 120)
            pages = [r for r in probe.of_step("auto-rollback") if r.kind == "page"]
            not_1 = [
                r
                for r in pages
                if r.status == 200 and (r.title != TITLE["1.0"] or r.version != "1.0")
            ]
            assert pages and not not_1, f"pages not at 1.0 during auto-rollback: {not_1[:3]}"
            nodes_answer(lab, swarm)
            say(f"Swarm rolled back by itself in {row['rolled_back_seconds']} s: {row['trigger']}")

        with steps.step("db-restart") as row:
            db_restart(lab, swarm, env, probe, row)

        with steps.step("node-crash") as row:
            node_crash(lab, swarm, row)

        probe.set_step("verify")
        probe.stop()
        audit = audit_run(lab.lb_url, probe)
    finally:
        probe.stop()
        events.stop()
        report = write_report(steps, probe, audit, time.monotonic() - test_started, events=events)
        if remove_stack:
            # Step 10: remove the stack (the lab stays; its owner removes it).
            started = time.monotonic()
            deploy_mod.stack_removed(lab)
            say(f"stack removed in {time.monotonic() - started:.0f} s")

    problems = report["violations"]
    assert not problems, "the replay broke its promises:\n  " + "\n  ".join(problems)
    assert report["writes"]["acknowledged_writes"] > 0, "the probe made no successful write"
    return report


def swarm_breakdowns(steps: Steps, events: swarm_timing.EventLog) -> dict[str, dict]:
    """Each step that ran a `docker` command (see mark_command): what the swarm
    did after it, from the nodes' container events."""
    collected = events.snapshot()
    ready = events.ready_times(collected)
    served = swarm_timing.first_served(list(steps.probe.records), time.time() - time.monotonic())
    out = {}
    for row, span in zip(steps.rows, steps.spans, strict=True):
        if "command_at" not in row:
            continue
        service = TIMED_SERVICE.get(row["name"], BOOT)
        until = span.get("wall_end", swarm_timing.wall_clock())
        out[row["name"]] = swarm_timing.breakdown(
            collected, service, row["command_at"], until, ready, served
        )
    return out


def write_report(
    steps: Steps,
    probe: Probe,
    audit: Audit | None,
    total: float,
    path: Path = REPORT,
    timeline: Path = TIMELINE,
    extra: dict | None = None,
    events: swarm_timing.EventLog | None = None,
) -> dict:
    """Print the table, write the report (build/reports/replay.json) and the
    timeline next to it; return the report (its `violations` list what broke a
    promise). `extra` adds top-level entries."""
    breakdowns = swarm_breakdowns(steps, events) if events else {}
    t0 = probe.started_at or time.monotonic()
    by_step: dict[str, list[Record]] = {}
    for rec in probe.records:
        by_step.setdefault(rec.step, []).append(rec)
    rows = []
    problems: list[str] = []
    for row, span in zip(steps.rows, steps.spans, strict=True):
        recs = by_step.get(row["name"], [])
        stats = step_stats(row["name"], recs, t0, span["end"] - span["start"])
        if recs:
            problems += violations(row["name"], stats)
        rows.append(
            {
                "name": row["name"],
                "seconds": row.get("seconds"),
                "start": round(span["start"] - t0, 1),
                "end": round(span["end"] - t0, 1),
                **{k: v for k, v in stats.items() if k not in ("slowest", "failed")},
                **{k: v for k, v in row.items() if k not in ("name", "seconds")},
                **({"swarm": breakdowns[row["name"]]} if row["name"] in breakdowns else {}),
                "slowest": stats["slowest"],
                "failed": stats["failed"],
            }
        )
    writes = audit.as_dict() if audit else {"acknowledged_writes": len(probe.acknowledged)}
    if audit is None:
        problems.append("the writes were not audited (the run stopped early)")
    else:
        if audit.missing:
            problems.append(f"lost writes: {audit.missing[:10]}")
        if audit.wrong_content:
            problems.append(f"writes with other content: {audit.wrong_content[:10]}")
        if audit.duplicated:
            problems.append(f"writes applied twice: {audit.duplicated[:10]}")
    kinds = Counter(r.kind for r in probe.records)
    report = {
        "steps": rows,
        "violations": problems,
        "requests": len(probe.records),
        "requests_by_kind": dict(kinds),
        "failures": sum(r["failures"] for r in rows),
        "retried": sum(r["retried"] for r in rows),
        "writes": writes,
        "total_seconds": round(total, 1),
        "swarm_timing": {
            "summary": swarm_timing.summary(breakdowns),
            "inconsistencies": [
                p for name, b in breakdowns.items() for p in swarm_timing.inconsistencies(name, b)
            ],
        },
        "bounds": {
            "max_seconds": MAX_SECONDS,
            "max_write_seconds": MAX_WRITE_SECONDS,
            "max_seconds_by_step": SLOW_BOUND,
            "max_retried_share": MAX_RETRIED_SHARE,
            "retries_expected_in": list(RETRIES_EXPECTED),
        },
        **(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    spans = [
        {"name": s["name"], "start": s["start"] - t0, "end": s["end"] - t0} for s in steps.spans
    ]
    if probe.records:
        timeline_png(probe.records, spans, t0, timeline)
    print(
        f"\n{'step':<14}{'requests':>9}{'rps':>6}{'failed':>7}{'503':>6}{'retried':>8}"
        f"{'front':>6}{'node':>5}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'seconds':>8}"
    )
    for r in rows:
        print(
            f"{r['name']:<14}{r['requests']:>9}{r['requests_per_second']:>6}{r['failures']:>7}"
            f"{r['answered_503']:>6}{r['retried']:>8}{r['retried_front']:>6}{r['retried_node']:>5}"
            f"{r['p50_ms']:>8}{r['p99_ms']:>8}{r['max_ms']:>8}{r['seconds'] or 0:>8}"
        )
    if breakdowns:
        print(f"\nwhere the swarm's time goes\n{swarm_timing.table(breakdowns)}")
        print(f"per task: {json.dumps(report['swarm_timing']['summary'])}")
    print(
        f"writes: {json.dumps({k: v for k, v in writes.items() if k != 'samples'})}; "
        f"total {report['total_seconds']} s; report: {path}, timeline: {timeline}",
        flush=True,
    )
    for problem in problems:
        print(f"VIOLATION: {problem}", flush=True)
    return report
