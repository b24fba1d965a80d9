"""One source for each limit and setting; the read cache across processes."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import bootservice
import dws
from bootservice import create_app
from bootservice.config import load_config
from bootservice.paging import page_info
from bootservice.validation import PAGE_MAX, SEARCH_MAX

from helpers import DEMO_USER, basic_auth


def test_openapi_publishes_the_enforced_limits(app_env):
    app = create_app(load_config(app_env, page_size_max=40))
    try:
        client = app.test_client()
        spec = client.get("/api/v1/openapi.json").get_json()
        params = {
            p["name"]: p["schema"] for p in spec["paths"]["/api/v1/countries"]["get"]["parameters"]
        }
        assert params["rows"]["maximum"] == 40
        assert client.get("/api/v1/countries?rows=41").status_code == 400
        assert params["page"]["maximum"] == PAGE_MAX
        assert params["countryname"]["maxLength"] == SEARCH_MAX
        page_keys = set(spec["components"]["schemas"]["PageInfo"]["properties"])
        assert page_keys == set(page_info(0, 1, 10, []))
        assert set(client.get("/api/v1/countries").get_json()) == page_keys
    finally:
        app.extensions["db_engine"].dispose()


def _gunicorn_conf(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "DB_"))}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import bootservice.gunicorn_conf as c, os; "
            "print(len(os.environ['SECRET_KEY']), c.workers)",
        ],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_gunicorn_shares_the_generated_key_and_warns(tmp_path):
    done = _gunicorn_conf({"SQLITE_PATH": str(tmp_path / "x.sqlite3"), "WEB_CONCURRENCY": "3"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["64", "3"]
    assert "SECRET_KEY_FILE is not set" in done.stderr


def test_gunicorn_settings_use_the_one_integer_parser(tmp_path):
    done = _gunicorn_conf({"SQLITE_PATH": str(tmp_path / "x.sqlite3"), "WEB_CONCURRENCY": "x"})
    assert done.returncode != 0
    assert done.stderr.strip().endswith("WEB_CONCURRENCY must be an integer, got 'x'")


def test_writes_seen_at_once_by_another_process(app_env):
    # Two apps on one database stand for two workers; both cache the table.
    first = create_app(load_config({**app_env, "READ_CACHE_TTL": "1"}))
    second = create_app(load_config({**app_env, "READ_CACHE_TTL": "1"}))
    try:
        reader, writer = second.test_client(), first.test_client()
        assert reader.get("/api/v1/countries/5").get_json()["countryname"] == "Andorra"
        assert "Andorra" in reader.get("/countries").get_data(as_text=True)
        auth = basic_auth(*DEMO_USER)
        put = writer.put(
            "/api/v1/countries/5",
            json={"countryname": "Andorra la Vella", "countrycode": "AD"},
            headers=auth,
        )
        assert put.status_code == 200
        assert reader.get("/api/v1/countries/5").get_json()["countryname"] == "Andorra la Vella"
        assert "Andorra la Vella" in reader.get("/countries").get_data(as_text=True)
        created = writer.post(
            "/api/v1/countries", json={"countryname": "Newland", "countrycode": "NL"}, headers=auth
        )
        assert reader.get(created.headers["Location"]).status_code == 200
        assert writer.delete(created.headers["Location"], headers=auth).status_code == 204
        assert reader.get(created.headers["Location"]).status_code == 404
        assert reader.get("/api/v1/countries").get_json()["total"] == 183
    finally:
        first.extensions["db_engine"].dispose()
        second.extensions["db_engine"].dispose()


def _package_imports(package: Path) -> dict[str, set[str]]:
    """Each module of `package` and the modules of that package it imports,
    wherever in the file (function bodies and TYPE_CHECKING blocks too)."""
    graph: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        name = path.stem
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[0] == package.name:
                    if len(parts) > 1:
                        found.add(parts[1])
                    else:
                        found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if (package / f"{m}.py").exists() and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph`, as the modules along it, or None."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return path[path.index(name) :] + [name]
        if name in done:
            return None
        for target in sorted(graph.get(name, ())):
            found = visit(target, [*path, name])
            if found:
                return found
        done.add(name)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return None


def test_no_import_cycle_among_bootservice_modules():
    graph = _package_imports(Path(bootservice.__file__).parent)
    assert {"db", "engine", "cache", "versions", "resources", "writes"} <= set(graph)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_no_import_cycle_among_dws_modules():
    graph = _package_imports(Path(dws.__file__).parent)
    assert {"deploy", "monitoring", "rotate", "lab", "steps"} <= set(graph)
    assert "lab_sql" in graph["rotate"] and "rotate" not in graph["monitoring"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_every_test_file_has_a_name_of_its_own():
    """pytest imports test files by their base name (rootdir-relative
    packages are not used): two tiers' test_x.py cannot both be collected."""
    tests = Path(__file__).resolve().parents[1]
    names = [p.name for p in tests.rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
