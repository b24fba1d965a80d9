"""The operator's commands on the session's lab, as a newcomer runs them:
`dws check` (things missing), `dws lab deploy`, `dws check` (complete),
`dws tutorial`, the stack still serving, then `dws watch` during an update.
Each test gets the lab state it needs from the fixtures (tests/e2e/conftest.py),
so their order does not matter.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time

import pexpect

from dws import deploy, lab_tls
from dws.replay import TITLE
from dws.util import REPO, docker, wait_until

TITLE_1 = f"<title>{TITLE['1.0']}</title>"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_check_lists_what_the_bare_swarm_is_missing(bare_check):
    ran = bare_check
    assert ran.status == 10, ran.output
    missing = [line for line in ran.output.splitlines() if line.startswith("MISSING")]
    for name in (*deploy.SECRET_NAMES, *deploy.TLS_SECRETS):
        assert any(
            f"secret {name}: " in line and "docker secret create" in line for line in missing
        )
    assert any("node label dws.db=true: docker node update --label-add" in x for x in missing)
    assert any("network my-network: docker network create --driver overlay" in x for x in missing)
    images = [x for x in missing if x.startswith("MISSING  image tcr:5000/myhub/")]
    assert len(images) == 3 and all("python build.py --push" in x for x in images), missing
    assert "ok       swarm manager (3 nodes)" in ran.output
    assert ran.output.rstrip().endswith("items missing")


def test_lab_deploy_serves_the_page_from_three_replicas(swarm_lab, deployed_stack):
    ran = deployed_stack.ran
    assert ran.status == 0, ran.output[-3000:]
    assert f"The tutorial's page: {swarm_lab.lb_url}/countries" in ran.output
    assert f"export DOCKER_HOST={swarm_lab.manager_host}" in ran.output
    responses = deployed_stack.responses
    assert all(r.status_code == 200 and TITLE_1 in r.text for r in responses)
    assert len({r.headers["X-Served-By"] for r in responses}) == 3
    assert {r.headers["X-App-Version"] for r in responses} == {"1.0"}


def test_the_front_serves_https_over_http2_with_hsts(swarm_lab, stack_running):
    """As a person checks it: curl with the lab's CA, then plain http."""
    ca = str(lab_tls.CA_CERT)
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "--cacert",
            ca,
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
            f"{swarm_lab.lb_url}/countries",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    head = done.stdout.lower()
    assert head.startswith("http/2 200"), done.stdout
    assert "strict-transport-security: max-age=63072000" in head, done.stdout
    assert done.stdout.rstrip().endswith("2"), done.stdout  # curl's %{http_version}
    plain = subprocess.run(
        ["curl", "-sS", "-D", "-", "-o", "/dev/null", f"{swarm_lab.lb_http_url}/countries?page=2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert plain.stdout.startswith("HTTP/1.1 301"), plain.stdout
    assert f"Location: {swarm_lab.lb_url}/countries?page=2" in plain.stdout, plain.stdout
    # Each node's own port 443 serves the same certificate (the secrets).
    for node, ip in swarm_lab.nodes.items():
        direct = subprocess.run(
            [
                "curl",
                "-sS",
                "--cacert",
                ca,
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                f"https://{ip}/nginx-health",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert direct.stdout == "200", (node, direct.stdout, direct.stderr)


def test_lab_status_prints_both_addresses_and_a_command_that_works(
    swarm_lab, stack_running, run_dws
):
    ran = run_dws("lab", "status")
    assert ran.status == 0, ran.output
    assert f"front LB       : {swarm_lab.lb_url}/  (pid " in ran.output
    assert f"front LB, http : {swarm_lab.lb_http_url}/  (a 301 to the https address)" in (
        ran.output
    )
    tried = next(x for x in ran.output.splitlines() if x.startswith("try            : "))
    command = shlex.split(tried.split(": ", 1)[1])
    assert command[:3] == ["curl", "--cacert", str(lab_tls.CA_CERT)], tried
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert any(f"<title>{title}</title>" in done.stdout for title in TITLE.values())


def test_check_passes_on_the_deployed_lab(stack_running, run_dws):
    ran = run_dws("check", "--lab")
    assert ran.status == 0, ran.output
    lines = ran.output.strip().splitlines()
    checked = [line for line in lines[:-1] if not line.startswith("in use   ")]
    assert all(line.startswith("ok ") for line in checked), lines
    # The session deploys with monitoring: the check is of both files, its
    # four images and its secret too.
    assert len([x for x in lines if x.startswith("ok       image ")]) == 3 + 4
    assert "ok       secret mysqld_exporter_cnf" in lines
    assert lines[-1].startswith("all ")
    assert "docker stack deploy -c stack.yml -c stack.monitoring.yml dws" in lines[-1]
    # Which version of each secret every service of the stack uses.
    in_use = {line.split()[2].rstrip(":"): line for line in lines if line.startswith("in use   ")}
    assert set(in_use) == {
        f"dws_{s}"
        for s in ("bootservice", "migrate", "mysql", "nginx")
        + ("prometheus", "alertmanager", "nginx-exporter", "mysqld-exporter")
    }
    assert in_use["dws_mysqld-exporter"].endswith("mysqld_exporter_cnf=mysqld_exporter_cnf")
    assert re.search(r"db_password=mysql_app_password(_\d+)?\b", in_use["dws_bootservice"])
    assert re.search(r"nginx_tls_key=nginx_tls_key(_\d+)?$", in_use["dws_nginx"])


def test_check_refuses_a_label_count_the_database_cannot_use(swarm_lab, stack_running, run_dws):
    """Two labelled nodes cannot keep a Galera majority; three need DB_NODES=3."""
    labelled = deploy.DB_NODE
    other = next(n for n in swarm_lab.nodes if n != labelled)
    swarm_lab.docker("node", "update", "--label-add", deploy.DB_LABEL, other)
    try:
        ran = run_dws("check", "--lab")
        assert ran.status == 10, ran.output
        line = next(x for x in ran.output.splitlines() if "node label dws.db=true" in x)
        assert line.startswith("MISSING") and "2 nodes are labelled dws.db=true" in line, line
        assert "loses its majority" in line and "label 1 node" in line, line
    finally:
        swarm_lab.docker("node", "update", "--label-rm", "dws.db", other)
    ran = run_dws("check", "--lab", "--db-nodes", "3")
    assert ran.status == 10, ran.output
    assert f"1 node(s) labelled dws.db=true ({labelled}) but DB_NODES=3" in ran.output
    ran = run_dws("check", "--lab", "--db-nodes", "two")
    assert ran.status == 2 and "DB_NODES must be a positive number" in ran.output, ran.output
    assert run_dws("check", "--lab").status == 0


def test_tutorial_runs_every_step(tutorial_ran):
    ran = tutorial_ran.ran
    assert ran.status == 0, ran.output[-3000:]
    out = ran.output
    for n in range(1, 8):
        assert f"=== {n}/7 " in out
    # The commands as the tutorial writes them, and what they showed.
    assert "$ docker node update --availability drain cloud02" in out
    assert "$ docker service scale --detach dws_bootservice=6" in out
    assert (
        "$ docker service update --detach --update-parallelism 2 --update-delay 5s "
        "--image tcr:5000/myhub/bootservice:2.0-dws dws_bootservice"
    ) in out
    assert re.search(r"answered by replica \w+ at version 1\.0", out)
    # During the update, both versions answer through the front.
    assert re.search(r"answering now \(of 12 requests\): 1\.0 x\d+, 2\.0 x\d+", out)
    assert "rollback_completed" in out
    assert "The stack stays up" in out


def test_the_stack_still_serves_after_the_tutorial(tutorial_ran):
    assert tutorial_ran.converged, tutorial_ran.tasks
    responses = tutorial_ran.responses
    assert all(r.status_code == 200 and TITLE_1 in r.text for r in responses)
    assert len({r.headers["X-Served-By"] for r in responses}) >= 3


def test_watch_shows_the_nodes_and_both_versions_during_an_update(stack_running, tmp_path):
    swarm_lab = stack_running
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "150", "LINES": "60"}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "dws", "watch", "--rate", "20"],
        cwd=str(REPO),
        env=env,
        dimensions=(60, 150),
        encoding="utf-8",
        timeout=30,
    )
    seen = []

    def read(seconds: float) -> str:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                seen.append(child.read_nonblocking(65536, timeout=0.5))
            except pexpect.TIMEOUT:
                pass
        return ANSI.sub("", "".join(seen))

    try:
        screen = read(4)
        for node in ("cloud01", "cloud02", "cloud03"):
            assert node in screen, screen[-2000:]
        docker(
            "service",
            "update",
            "--detach",
            "--image",
            deploy.image("2.0"),
            deploy.BOOT,
            host=swarm_lab.manager_host,
            timeout=60,
        )

        def both_versions():
            text = read(1)
            return any(
                "1.0 " in line and "2.0 " in line for line in re.findall(r"versions: [^\n]*", text)
            )

        wait_until("dws watch showing 1.0 and 2.0 answering", both_versions, 180, 0)
        text = read(0.1)
        assert "bootservice 2.0 Running" in text and "bootservice 1.0 Running" in text
        child.send("q")
        child.expect(pexpect.EOF, timeout=20)
    finally:
        (tmp_path / "watch.txt").write_text(ANSI.sub("", "".join(seen)))
        child.close(force=True)
    assert child.exitstatus == 0, child.exitstatus
