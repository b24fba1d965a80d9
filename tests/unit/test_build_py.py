"""build.py's pure functions, without a Docker engine (the docker tier runs the rest)."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import build
from helpers import REPO

HASH = "--hash=sha256:" + "a" * 64


def target(name: str, tag: str) -> build.Target:
    return build.Target(
        name=name, tag=tag, context=Path("."), dockerfile="Dockerfile", buildargs={}
    )


def test_the_lock_in_the_repository_pins_every_package_with_hashes():
    pins = build.read_lock()
    assert {"flask", "gunicorn", "sqlalchemy", "pymysql", "cryptography"} <= set(pins)
    text = build.LOCK_FILE.read_text()
    assert text.count("--hash=sha256:") >= len(pins)


def test_parse_lock_reads_pip_compile_output():
    text = (
        "# comment\n"
        f"flask==3.1.3 \\\n    {HASH} \\\n    {HASH}\n    # via -r requirements.in\n"
        f"typing-extensions==4.16.0 \\\n    {HASH}\n"
        f"pymysql[rsa]==1.2.4 \\\n    {HASH}\n"
    )
    assert build.parse_lock(text) == {
        "flask": "3.1.3",
        "typing_extensions": "4.16.0",
        "pymysql": "1.2.4",
    }


@pytest.mark.parametrize(
    "text,message",
    [
        ("flask>=3.1 \\\n    " + HASH + "\n", "not an exact pin: 'flask>=3.1'"),
        ("flask==3.1.3\n", "flask==3.1.3 needs --hash=sha256"),
        ("flask==3.1.3 --hash=md5:00\n", "needs --hash=sha256"),
        ("flask==3.1.3 " + HASH + " --index-url=x\n", "needs --hash=sha256"),
    ],
)
def test_parse_lock_refuses_what_require_hashes_cannot_install(text, message):
    with pytest.raises(build.BuildError, match=message.replace("[", r"\[")) as err:
        build.parse_lock(text)
    assert err.value.code == build.EXIT_ERROR


def test_stack_variables_are_the_tags_built():
    targets = [
        target("mysql", "tcr:5000/myhub/mysql:10.11-dws"),
        target("nginx", "tcr:5000/myhub/nginx:1.22-dws"),
        target("bootservice", "tcr:5000/myhub/bootservice:1.0-dws"),
    ]
    assert build.stack_variables(targets, "tcr:5000", "myhub") == {
        "REGISTRY": "tcr:5000",
        "NAMESPACE": "myhub",
        "MYSQL_VERSION": "10.11",
        "NGINX_VERSION": "1.22",
    }
    only_boot = build.stack_variables(targets[2:], "r.example:443", "a/b")
    assert only_boot == {"REGISTRY": "r.example:443", "NAMESPACE": "a/b"}


def test_export_line_is_shell_safe():
    line = build.export_line({"REGISTRY": "tcr:5000", "X": "a b;c"})
    assert line == "export REGISTRY=tcr:5000 X='a b;c'"
    assert shlex.split(line)[1:] == ["REGISTRY=tcr:5000", "X=a b;c"]


@pytest.mark.parametrize(
    "filename,fits",
    [
        ("flask-3.1.3-py3-none-any.whl", "flask"),
        ("cryptography-50.0.2-cp311-abi3-manylinux_2_34_x86_64.whl", "cryptography"),
        ("cffi-2.1.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "cffi"),
        ("flask-3.1.2-py3-none-any.whl", None),  # another version
        ("cffi-2.1.1-cp312-cp312-manylinux_2_17_x86_64.whl", None),  # another Python
        ("cffi-2.1.1-cp311-cp311-manylinux_2_38_x86_64.whl", None),  # newer glibc
        ("cffi-2.1.1-cp311-cp311-manylinux_2_17_aarch64.whl", None),  # another CPU
        ("flask-3.1.3.tar.gz", None),
    ],
)
def test_wheel_fits_the_image(filename, fits):
    pins = {"flask": "3.1.3", "cryptography": "50.0.2", "cffi": "2.1.1"}
    platforms = set(build.wheel_platforms("x86_64"))
    assert build._wheel_fits(filename, pins, "3.11", platforms) == fits


def test_wheel_platforms_cover_older_glibc_only():
    tags = build.wheel_platforms("x86_64")
    assert tags[0] == f"manylinux_2_{build.GLIBC_MINOR}_x86_64"
    assert "manylinux2014_x86_64" in tags
    assert f"manylinux_2_{build.GLIBC_MINOR + 1}_x86_64" not in tags


@pytest.mark.parametrize(
    "text,expected",
    [("8.4.3", "8.4"), ("1:10.11.19+maria~deb12", "10.11"), ("1.22.1-9", "1.22"), ("x", None)],
)
def test_major_minor(text, expected):
    assert build._major_minor(text) == expected


@pytest.mark.parametrize(
    "ref,expected",
    [
        ("python:3.11-slim", ("python", "3.11-slim")),
        ("tcr:5000/a/b", ("tcr:5000/a/b", "latest")),
        ("tcr:5000/a/b:1", ("tcr:5000/a/b", "1")),
        ("x@sha256:abc", ("x@sha256:abc", None)),
    ],
)
def test_split_ref(ref, expected):
    assert build._split_ref(ref) == expected


def test_parse_args_defaults_and_base_images():
    args = build.parse_args(["--push", "--base-image", "python=dws-standin/python:bookworm"])
    assert isinstance(args, argparse.Namespace)
    assert (args.push, args.registry, args.namespace) == (True, "tcr:5000", "myhub")
    assert args.only == ["mysql", "nginx", "bootservice"]
    assert args.bases == {"python": "dws-standin/python:bookworm"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "redis"], "argument --only: unknown image name 'redis'"),
        (["--only", "nginx,foo"], "unknown image name 'foo'"),
        (["--only", "nginx,nginx"], "names an item twice"),
        (["--only", ""], "argument --only: needs at least one item"),
        (["--base-image", "python"], "expected NAME=IMAGE"),
        (["--base-image", "ruby=ruby:3"], "unknown base 'ruby'"),
        (["--base-image", "python=a:1", "--base-image", "python=b:1"], "named twice"),
        (["--versions", "1.0,latest"], "'latest' is not a version"),
        (["--versions", "1.0,,2.0"], "'1.0,,2.0' has an empty item"),
        (["--versions", "1.0,1.0"], "names an item twice"),
        (["--registry", "tcr:5000/x"], "is not HOST or HOST:PORT"),
        (["--registry", "tcr:99999"], "'tcr:99999': the port must be 1 to 65535"),
        (["--registry", "tcr:0"], "the port must be 1 to 65535"),
        (["--registry=-tcr"], "is not HOST or HOST:PORT"),
        (["--registry", ""], "is not HOST or HOST:PORT"),
        (["--namespace", "My Hub"], "argument --namespace: 'My Hub' must be lowercase"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_fail_with_one_line_and_status_2(args, message):
    proc = subprocess.run(
        [sys.executable, str(REPO / "build.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == build.EXIT_USAGE == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("build.py: error: ")
    assert message in lines[0]
    assert proc.stdout == ""


def test_good_arguments_are_kept_in_build_order():
    args = build.parse_args(
        ["--only", "bootservice, mysql", "--versions", "1.0,2.0.1", "--registry", "reg.lan:443"]
    )
    assert args.only == ["mysql", "bootservice"]
    assert args.versions == ["1.0", "2.0.1"]
    assert args.registry == "reg.lan:443"
