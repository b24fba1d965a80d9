"""The `dws` command line and the toolkit's pure parts, without Docker or a lab."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from dws import check, cli, commands, frontlb, lab, tls, watch
from dws.util import free_port

# The front's TLS files, which every front-lb command line names.
FRONT_TLS = ["--certificate", "/c.pem", "--key", "/k.pem", "--node-name", "www.example"]


def dws(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dws", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["lab"],
        ["lab", "up"],
        ["lab", "down"],
        ["lab", "status"],
        ["lab", "deploy"],
        ["tutorial"],
        ["watch"],
        ["replay"],
        ["check"],
        ["front-lb"],
        ["bench"],
        ["flood"],
        ["db"],
        ["db", "checksum"],
        ["standins"],
    ],
)
def test_every_subcommand_has_help(args):
    done = dws(*args, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: "), done.stdout[:200]


def test_top_level_help_lists_commands_and_exit_statuses():
    out = dws("--help").stdout
    for command in ("lab", "tutorial", "watch", "replay", "check", "front-lb", "bench"):
        assert f"\n    {command} " in out
    for status, meaning in cli.EXIT_STATUSES.items():
        assert f"{status:>3}  {meaning}" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["nosuch"], "invalid choice: 'nosuch'"),
        (["lab", "up", "--port", "x"], "not a whole number: 'x'"),
        (["lab", "up", "--port", "99999"], "a port is 1-65535, not '99999'"),
        (["lab", "up", "--engine", "25"], "--engine: invalid choice: '25'"),
        (["bench", "--duration", "-1"], "--duration: must be in (0, 86400]: '-1'"),
        (["bench", "--targets", "nosuch"], "unknown target(s) 'nosuch'"),
        (["standins", "nosuch"], "invalid choice: 'nosuch'"),
        (["db", "recover", "--timeout", "0"], "--timeout: must be in (0, 86400]"),
        (["flood", "--seconds", "-5"], "--seconds: must be in (0, 3600]"),
        (["front-lb", "10.0.0.1", "--listen", "abc"], "--listen: not PORT, ADDRESS:PORT"),
        (["front-lb", "10.0.0.1", "--listen", "99999"], "--listen: not PORT, ADDRESS:PORT"),
        (["watch", "--rate", "0"], "must be in (0, 1000]"),
        (["watch", "--interval", "-1"], "must be in (0, 1000]"),
        (["tutorial", "--pauses"], "unrecognized arguments: --pauses"),
        (["front-lb"], "the following arguments are required: ADDRESS"),
        (["front-lb", "10.0.0.1;", "cloud02", *FRONT_TLS], "not a host name or IP address"),
        (["front-lb", "cloud02:99999", *FRONT_TLS], "not a port in 'cloud02:99999'"),
        (["front-lb", "--listen", "80; evil", "cloud02"], "--listen: not PORT, ADDRESS:PORT"),
        (["front-lb", "--state-dir", "rel", "cloud02", *FRONT_TLS], "--state-dir must be absolute"),
        (["check", "--registry-address", "tcr"], "--registry-address wants NAME=HOST:PORT"),
    ],
)
def test_bad_arguments_are_one_line_and_status_2(args, message):
    done = dws(*args)
    assert done.returncode == 2, done
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


@pytest.mark.parametrize("command", [["lab", "status"], ["lab", "deploy"], ["tutorial"], ["watch"]])
def test_commands_needing_a_lab_say_so_with_status_5(command, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(lab, "STATE_FILE", tmp_path / "state.json")
    assert cli.main(command) == 5
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"dws {command[0]}: error: the lab is not up (run: dws lab up)"]


def test_check_without_an_engine_is_status_3():
    done = dws("check", env={"DOCKER_HOST": f"tcp://127.0.0.1:{free_port()}"})
    assert done.returncode == 3, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Docker engine answers" in lines[0], done.stderr


def test_front_lb_prints_a_config_nginx_accepts(tmp_path):
    ca = tls.CertificateAuthority.create("test CA")
    ca.write(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    ca.issue(["www.example"]).write(tmp_path / "site.pem", tmp_path / "site-key.pem")
    done = dws(
        "front-lb",
        "10.1.2.3",
        "node-b.example:8443",
        "[fd00::3]",
        "--listen",
        "8099",
        "--http-listen",
        "127.0.0.1:8098",
        "--certificate",
        str(tmp_path / "site.pem"),
        "--key",
        str(tmp_path / "site-key.pem"),
        "--node-name",
        "www.example",
        "--trusted-ca",
        str(tmp_path / "ca.pem"),
    )
    assert done.returncode == 0, done.stderr
    conf = done.stdout
    assert "server 10.1.2.3:443 max_fails=1 fail_timeout=2s;" in conf
    assert "server node-b.example:8443 max_fails=1" in conf
    assert "server [fd00::3]:443 max_fails=1" in conf
    assert "listen 8099 ssl http2;" in conf
    assert "listen 127.0.0.1:8098;" in conf
    # The plain side redirects to the HTTPS side's port.
    assert "return 301 https://$host:8099$request_uri;" in conf
    assert "proxy_pass https://swarm_nodes;" in conf
    assert "proxy_ssl_verify on;" in conf
    assert f"proxy_ssl_trusted_certificate {tmp_path / 'ca.pem'};" in conf
    assert "proxy_ssl_name www.example;" in conf
    assert "proxy_next_upstream error timeout http_502 http_504;" in conf
    assert "@" not in conf.replace("$", "")  # every placeholder filled
    # nginx's own parser (which also loads the certificate and key): the
    # same text with the state under tmp_path.
    state = tmp_path / "state"
    frontlb.make_state_dir(state)
    path = tmp_path / "front.conf"
    path.write_text(conf.replace("/var/lib/dws-front", str(state)))
    test = subprocess.run(
        ["nginx", "-t", "-q", "-p", str(state), "-c", str(path), "-e", str(state / "e.log")],
        capture_output=True,
        text=True,
    )
    # Resolving node-b.example is all that may fail: no such host exists.
    assert test.returncode == 0 or "host not found in upstream" in test.stderr, test.stderr


def test_front_lb_on_port_443_redirects_without_a_port(tmp_path):
    conf = dws(
        "front-lb",
        "10.1.2.3",
        "--certificate",
        "/etc/dws/site.pem",
        "--key",
        "/etc/dws/site-key.pem",
        "--node-name",
        "www.example",
    ).stdout
    assert "listen 443 ssl http2;" in conf and "listen 80;" in conf
    assert "return 301 https://$host$request_uri;" in conf
    assert "proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;" in conf


@pytest.mark.parametrize(
    "args,message",
    [
        (["--key", "/k.pem", "--node-name", "n"], "--certificate"),
        (["--certificate", "c.pem", "--key", "/k.pem", "--node-name", "n"], "absolute path"),
        (["--certificate", "/c.pem", "--key", "/k.pem", "--node-name", "a;b"], "not a host name"),
        (["--certificate", "/c pem", "--key", "/k.pem", "--node-name", "n"], "absolute path"),
    ],
)
def test_front_lb_refuses_bad_tls_arguments(args, message):
    done = dws("front-lb", "10.1.2.3", *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dws front-lb: error: "), done.stderr
    assert message in lines[0]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("10.0.0.1", "10.0.0.1:443"),
        ("cloud01:8080", "cloud01:8080"),
        ("[::1]:81", "[::1]:81"),
        ("[::1]", "[::1]:443"),
    ],
)
def test_front_lb_addresses(text, expected):
    assert frontlb.parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "a b", "x;y", "h:1:2", "[::1", "[zz]:80", "-a", "h:0", "é"])
def test_front_lb_refuses_what_is_not_an_address(text):
    with pytest.raises(ValueError):
        frontlb.parse_address(text)


@pytest.mark.parametrize(
    "ref,parts",
    [
        ("tcr:5000/myhub/bootservice:1.0-dws", ("tcr:5000", "myhub/bootservice", "1.0-dws")),
        ("127.0.0.1:5000/a/b", ("127.0.0.1:5000", "a/b", "latest")),
        ("registry.example/x/y:2", ("registry.example", "x/y", "2")),
    ],
)
def test_check_splits_image_references(ref, parts):
    assert check.split_image(ref) == parts


def test_check_refuses_an_image_without_a_registry():
    with pytest.raises(ValueError):
        check.split_image("myhub/bootservice:1.0")


def test_check_items_print_ok_or_what_to_do():
    assert check.Item("secret a", True).line() == "ok       secret a"
    assert check.Item("secret a", False, "create it").line() == "MISSING  secret a: create it"


def test_watch_reads_versions_from_task_images():
    assert watch.version_of("tcr:5000/myhub/bootservice:2.0-dws@sha256:abc") == "2.0"
    assert watch.version_of("tcr:5000/myhub/bootservice:2.1-broken-dws") == "2.1-broken"


def test_watch_screen_shows_nodes_tasks_and_versions():
    from rich.console import Console

    nodes = [
        {"Hostname": h, "Status": "Ready", "Availability": a, "ManagerStatus": m}
        for h, a, m in (("cloud01", "Active", "Leader"), ("cloud02", "Drain", ""))
    ]
    tasks = [
        {
            "Name": "dws_bootservice.1",
            "Node": "cloud01",
            "Image": "tcr:5000/myhub/bootservice:1.0-dws",
            "CurrentState": "Running 3 seconds ago",
        }
    ]
    traffic = [
        (0, True, "abc", "1.0", 200),
        (0, True, "def", "2.0", 200),
        (0, False, None, None, 502),
    ]
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(watch.render(nodes, tasks, traffic))
    text = console.export_text()
    assert "cloud01 *" in text and "cloud02" in text and "Drain" in text
    assert "bootservice 1.0 Running" in text
    assert "abc" in text and "def" in text
    assert "1.0 0.2/s" in text and "2.0 0.2/s" in text and "failures: 1 (502)" in text


def test_ctrl_c_is_one_line_and_status_130(monkeypatch, capsys):
    def interrupted(_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands.tutorial, "run", interrupted)
    assert cli.main(["tutorial"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "dws tutorial: interrupted; `dws lab status` shows what runs, "
        "`dws lab down` removes everything"
    ]


def test_every_error_status_is_documented():
    from dws import check, deploy, tutorial, util

    classes = [
        util.DwsError,
        util.UsageError,
        util.DockerError,
        lab.LabError,
        lab.LabNotUp,
        lab.LabAlreadyUp,
        lab.PortInUse,
        deploy.DeployError,
        tutorial.StepFailed,
        check.CheckFailed,
        check.NotAManager,
    ]
    statuses = [c.status for c in classes]
    assert len(set(statuses)) == len(statuses), statuses
    assert set(statuses) <= set(cli.EXIT_STATUSES)


def test_bench_help_names_itself():
    assert dws("bench", "--help").stdout.startswith("usage: dws bench ")


def test_db_without_an_engine_is_one_line_and_status_3():
    done = dws("db", "checksum", env={"DOCKER_HOST": "tcp://127.0.0.1:1"})
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dws db: error: "), done.stderr


def test_lab_up_offers_exactly_the_engines_the_lab_can_build():
    done = dws("lab", "up", "--help")
    assert done.returncode == 0
    assert "{26,20.10}" in done.stdout
    assert set(lab.ENGINES) == {"26", "20.10"} and lab.DEFAULT_ENGINE == "26"


@pytest.mark.parametrize("engine,suite", [("26", "trixie"), ("20.10", "bookworm")])
def test_each_engine_builds_its_node_from_its_debian_release(engine, suite):
    recipe = lab.node_recipe(engine)
    assert recipe["suite"] == suite
    assert "docker.io" in recipe["packages"]
    # trixie splits the CLI off docker.io; the nodes need it for `docker exec NODE docker ...`.
    assert ("docker-cli" in recipe["packages"]) == (suite == "trixie")
    assert lab.recipe_tag("node", recipe).startswith(f"dws-lab/node:{suite}-")


def test_the_two_engines_never_share_a_node_image_tag():
    tags = {lab.recipe_tag("node", lab.node_recipe(e)) for e in lab.ENGINES}
    assert len(tags) == len(lab.ENGINES)


def test_an_unknown_engine_is_refused_before_anything_is_built():
    with pytest.raises(lab.LabError, match="unknown engine '25'; choose one of 26, 20.10"):
        lab.up(engine="25")
