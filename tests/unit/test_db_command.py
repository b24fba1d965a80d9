"""`dws db`: the label check, and its errors before any database is touched."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dws.db import check_labels


def test_one_labelled_node_is_a_single_database():
    assert check_labels(["cloud03"], 1) is None


def test_three_labelled_nodes_are_a_cluster_when_db_nodes_says_so():
    assert check_labels(["cloud01", "cloud02", "cloud03"], 3) is None
    problem = check_labels(["cloud01", "cloud02", "cloud03"], 1)
    assert problem and "DB_NODES=1" in problem and "DB_NODES=3" in problem


@pytest.mark.parametrize("count", [2, 4])
def test_an_even_count_is_refused_because_it_cannot_keep_a_majority(count):
    nodes = [f"cloud0{i}" for i in range(1, count + 1)]
    problem = check_labels(nodes, count)
    assert problem and f"{count} nodes are labelled dws.db=true" in problem
    assert "majority" in problem and "label 1 node" in problem


def test_no_labelled_node_is_refused():
    assert "no node is labelled" in check_labels([], 1)


def _dws_db(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dws", "db", *args], capture_output=True, text=True, timeout=60
    )


def test_restore_of_a_missing_file_is_one_line_and_exit_1(tmp_path):
    proc = _dws_db("restore", str(tmp_path / "nope.sql"), "--container", "x")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "cannot read" in proc.stderr


def test_restore_refuses_what_is_not_a_dump_before_touching_a_database(tmp_path):
    junk = tmp_path / "junk.sql"
    junk.write_text("DROP DATABASE citydb;\n")
    proc = _dws_db("restore", str(junk), "--container", "x")
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == f"dws db: error: {junk} is not a dump made by `dws db backup` (mariadb-dump)"
    )


def test_usage_errors_exit_2():
    assert _dws_db().returncode == 2
    assert _dws_db("frobnicate").returncode == 2


@pytest.mark.parametrize("command", [("db", "check"), ("check",)])
def test_a_malformed_db_nodes_is_a_usage_error_not_a_traceback(command):
    proc = subprocess.run(
        [sys.executable, "-m", "dws", *command],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DB_NODES": "three"},
    )
    assert proc.returncode == 2, proc.stderr
    assert "DB_NODES must be a positive number, not 'three'" in proc.stderr
    assert "Traceback" not in proc.stderr
