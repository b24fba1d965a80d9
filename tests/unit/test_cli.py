"""`python -m bootservice` as a developer runs it: a real process, real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

from helpers import free_port


def run_cli(env_extra, *args, timeout=20):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "DATABASE_"))}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "bootservice", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "env,args,message",
    [
        ({"DB_HOST": "db", "DB_USER": "u", "DB_PORT": "x"}, [], "DB_PORT must be an integer"),
        ({"APP_VERSION": "banana"}, [], "APP_VERSION must look like"),
        ({}, ["--port", "99999"], "--port (or PORT) must be between 1 and 65535"),
    ],
)
def test_bad_configuration_is_one_line_and_nonzero(tmp_path, env, args, message):
    result = run_cli({"SQLITE_PATH": str(tmp_path / "db.sqlite3"), **env}, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_serves_all_countries_on_embedded_default(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "DATABASE_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bootservice", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.2)
        page = requests.get(f"{base}/countries?rows=100&page=2", timeout=5)
        assert page.status_code == 200 and 'id="total">183<' in page.text
        assert (
            requests.get(f"{base}/api/v1/countries/183", timeout=5).json()["countryname"]
            == "Zambia"
        )
        # The database file is created where the developer runs it.
        assert (tmp_path / "instance" / "citydb.sqlite3").is_file()
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
