"""README.md and docs/*.md held against the code.

The checker reads the pages as text. For it to see a fact, the pages name
it in one of these ways:

- **Commands.** An inline code span, or a line of a fenced code block, that
  starts with `dws `, `python build.py ` or `python -m bootservice ` (a
  leading `$ ` or `.venv/bin/` is ignored) is a command. Its words are read
  up to the first shell operator or comment (`|`, `>`, `<`, `&&`, `;`, `#`).
  Words naming a subcommand walk into that subparser of
  `dws.cli.build_parser()`; words starting with `-` are flags and must be
  options of the subcommand reached (`--flag=value` counts as `--flag`;
  usage brackets `[--flag X]` are allowed); other words are arguments or
  values and are not checked. `docs/cli.md` must name every leaf subcommand
  and every flag of the dws parser this way.
- **Exit statuses.** A table whose header's first cell is `exit status`
  lists the `dws` statuses: exactly the keys of `dws.cli.EXIT_STATUSES`.
  One whose first cell is `build.py exit status` lists build.py's.
- **Environment variables.** A table whose header's first cell is
  `variable` lists the service's configuration: every name in backticks in
  its first column must be read by the bootservice package, and every
  variable the package reads must be listed.
- **Repository paths.** An inline code span without spaces or any of
  `:<>*${}=` whose first segment is an entry of the repository's root, or
  that ends in a file suffix, is a path and must exist. Paths under
  `build/` and `instance/` are made by running things, and absolute paths
  are not the repository's, so neither is checked.
- **stack.yml defaults.** `${VAR:-default}` anywhere must appear so in
  `stack.yml`.
- **Links.** Every relative link or image target resolves from its page.
- **The benchmark.** `docs/performance.md`'s tables headed `target | req/s`
  and `goal | this run` hold the figures of `docs/bench.json`, and the one
  headed `figure | this run` those of the replay report `docs/replay.json`.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import pytest

from bootservice import __main__ as bootservice_main
from dws.cli import EXIT_STATUSES, build_parser

import build

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CLI_PAGE = REPO / "docs" / "cli.md"
SERVICE_PACKAGE = REPO / "services" / "bootservice" / "bootservice"

TOOLS = {
    "dws": "dws",
    "python build.py": "build.py",
    "python -m bootservice": "python -m bootservice",
}
OPERATORS = ("|", ">", "<", "&&", ";", "#")
FILE_SUFFIX = re.compile(
    r"(?<=[\w-])\.(py|yml|yaml|sql|md|sh|json|png|lock|in|toml|conf|lua|js|css|html|txt|cnf)$"
)
NOT_A_PATH = re.compile(r"[\s:<>*${}=]")
GENERATED = ("build/", "instance/")
STACK_DEFAULT = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):-([^}]*)\}")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
SPAN = re.compile(r"(`+)(.+?)\1")
VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]*$")


# ------------------------------------------------------------ reading pages


def page_id(page: Path) -> str:
    return str(page.relative_to(REPO))


def split_page(text: str) -> tuple[list[str], list[str]]:
    """(the lines outside fenced code blocks, the lines inside them)."""
    prose: list[str] = []
    code: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced:
            code.append(line)
        else:
            prose.append(line)
    return prose, code


def code_spans(text: str) -> Iterator[str]:
    """Every inline code span outside the fenced blocks."""
    prose, _ = split_page(text)
    for line in prose:
        for match in SPAN.finditer(line):
            yield match.group(2).strip()


def commands(text: str) -> Iterator[tuple[str, list[str]]]:
    """(tool, words after the tool's name) for every command the text names."""
    _, code = split_page(text)
    for candidate in [*code_spans(text), *code]:
        candidate = candidate.strip().removeprefix("$ ").removeprefix(".venv/bin/")
        for prefix, tool in TOOLS.items():
            if candidate == prefix or candidate.startswith(prefix + " "):
                words = []
                for word in candidate[len(prefix) :].split():
                    if word.startswith(OPERATORS):
                        break
                    words.append(word)
                yield tool, words


def tables(text: str) -> Iterator[tuple[list[str], list[list[str]]]]:
    """(header cells, body rows) of every Markdown table."""
    prose, _ = split_page(text)
    block: list[str] = []
    for line in [*prose, ""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if len(block) >= 2:
            rows = [[c.strip() for c in row.strip().strip("|").split("|")] for row in block]
            yield rows[0], rows[2:]
        block = []


# ------------------------------------------------------------- the parsers


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's subcommands, by name ({} for a leaf)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def flags(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of the parser."""
    return set(parser._option_string_actions)


def caught_parser(parse: Callable[[], object]) -> argparse.ArgumentParser:
    """The parser `parse` builds, caught as it is about to parse."""

    class Caught(Exception):
        pass

    def catch(self, *args, **kwargs):
        raise Caught(self)

    with mock.patch.object(argparse.ArgumentParser, "parse_args", catch):
        try:
            parse()
        except Caught as caught:
            return caught.args[0]
    raise AssertionError(f"{parse} built no parser")


def build_py_parser() -> argparse.ArgumentParser:
    """build.py's parser, as `build.parse_args` builds it."""
    return caught_parser(lambda: build.parse_args([]))


def bootservice_parser() -> argparse.ArgumentParser:
    """`python -m bootservice`'s parser."""
    return caught_parser(lambda: bootservice_main.main([]))


PARSERS = {
    "dws": build_parser,
    "build.py": build_py_parser,
    "python -m bootservice": bootservice_parser,
}


def walk(parser: argparse.ArgumentParser, words: list[str]):
    """Follow `words` through the parser: (subcommand path, flags used, problems)."""
    path: list[str] = []
    used: list[str] = []
    problems: list[str] = []
    for raw in words:
        word = raw.strip("[]")
        if word.startswith("-"):
            flag = word.split("=", 1)[0]
            used.append(flag)
            if flag not in flags(parser):
                problems.append(f"no flag {flag} in `{' '.join(path) or 'the top level'}`")
            continue
        choices = subcommands(parser)
        if choices and not used:
            if word not in choices:
                problems.append(f"no subcommand {word!r} after `{' '.join(path)}`")
                break
            path.append(word)
            parser = choices[word]
            continue
        used.append("")  # an argument or a value: no more subcommands after it
    return path, [f for f in used if f], problems


def command_problems(text: str) -> list[str]:
    """Each command of `text` that names a subcommand or flag its parser lacks."""
    parsers = {tool: make() for tool, make in PARSERS.items()}
    problems = []
    for tool, words in commands(text):
        for problem in walk(parsers[tool], words)[2]:
            problems.append(f"{tool} {' '.join(words)}: {problem}")
    return problems


# -------------------------------------------------------- what the code reads


ENV_READERS = {"env_int", "_env_int", "getenv"}
SECRET_READERS = {"_read_secret", "read_secret_file"}


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def environment_read(package: Path = SERVICE_PACKAGE) -> set[str]:
    """Every variable the package reads: string literals handed to
    `environ.get`/`env.get`, `os.getenv`, `env_int`, `environ[...]`, and to
    the secret readers (which read NAME and NAME_FILE). HTTP_* names are
    request headers in a WSGI environ, not variables."""
    names: set[str] = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            literals: list[str] = []
            if isinstance(node, ast.Call):
                func = _name(node.func)
                owner = _name(node.func.value) if isinstance(node.func, ast.Attribute) else ""
                is_env = func == "get" and owner in ("environ", "env")
                args = [a.value for a in node.args if isinstance(a, ast.Constant)]
                if is_env or func in ENV_READERS:
                    literals = [a for a in args if isinstance(a, str)]
                elif func in SECRET_READERS:
                    literals = [v for a in args if isinstance(a, str) for v in (a, a + "_FILE")]
            elif (
                isinstance(node, ast.Subscript)
                and isinstance(node.ctx, ast.Load)
                and _name(node.value) == "environ"
                and isinstance(node.slice, ast.Constant)
            ):
                literals = [node.slice.value]
            names.update(
                v
                for v in literals
                if isinstance(v, str) and VARIABLE.match(v) and not v.startswith("HTTP_")
            )
    return names


def documented_variables() -> dict[str, str]:
    """{variable: page} for the first column of every `variable` table."""
    found = {}
    for page in PAGES:
        for header, rows in tables(page.read_text(encoding="utf-8")):
            if header[0].lower() == "variable":
                for row in rows:
                    for name in SPAN.findall(row[0]):
                        found[name[1]] = page_id(page)
    return found


def stack_defaults() -> set[tuple[str, str]]:
    return set(STACK_DEFAULT.findall((REPO / "stack.yml").read_text(encoding="utf-8")))


def repo_paths(text: str) -> Iterator[str]:
    """Every code span that names a path in the repository."""
    roots = {p.name for p in REPO.iterdir()} - {".git", ".venv"}
    for span in code_spans(text):
        if NOT_A_PATH.search(span) or span.startswith(("/", "~", "-", ".venv")):
            continue
        path = span.removeprefix("./")
        if path.startswith(GENERATED):
            continue
        if path.split("/", 1)[0] in roots or FILE_SUFFIX.search(path):
            yield path


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_command_names_subcommands_and_flags_that_exist(page):
    assert command_problems(page.read_text(encoding="utf-8")) == []


def test_the_checker_reports_a_made_up_flag_and_subcommand():
    text = "Run `dws lab up --no-such-flag`, then\n\n```sh\ndws no-such-command\n```\n"
    problems = command_problems(text)
    assert len(problems) == 2
    assert "--no-such-flag" in problems[0] and "no-such-command" in problems[1]
    assert command_problems("`python build.py --push --no-such-flag`")
    assert command_problems("`dws lab up --port 0 --no-bases`  # ok") == []


def test_the_checker_reports_a_missing_path_and_a_wrong_stack_default():
    text = "`services/mysql/citydb.sql`, `services/no-such-file.py`, `build/made-later.json`"
    assert list(repo_paths(text)) == ["services/mysql/citydb.sql", "services/no-such-file.py"]
    assert ("MYSQL_VERSION", "10.11") in stack_defaults()
    assert ("MYSQL_VERSION", "8.4") not in stack_defaults()


def test_the_cli_page_names_every_subcommand_and_flag():
    documented: dict[tuple[str, ...], set[str]] = {}
    parser = build_parser()
    for tool, words in commands(CLI_PAGE.read_text(encoding="utf-8")):
        if tool == "dws":
            path, used, _ = walk(parser, words)
            documented.setdefault(tuple(path), set()).update(used)

    missing = []

    def visit(p: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        children = subcommands(p)
        if path and not children and path not in documented:
            missing.append(f"dws {' '.join(path)}")
        for action in p._actions:
            long = [s for s in action.option_strings if s.startswith("--")]
            if long and "--help" not in long and not set(long) & documented.get(path, set()):
                missing.append(f"dws {' '.join(path)} {long[0]}")
        for name, child in children.items():
            visit(child, (*path, name))

    visit(parser, ())
    assert missing == []


def test_exit_status_tables_list_exactly_what_the_commands_return():
    expected = {
        "exit status": set(EXIT_STATUSES),
        "build.py exit status": {0}
        | {v for k, v in vars(build).items() if k.startswith("EXIT_") and isinstance(v, int)},
    }
    seen: dict[str, set[int]] = {}
    for page in PAGES:
        for header, rows in tables(page.read_text(encoding="utf-8")):
            kind = header[0].lower()
            if kind in expected:
                statuses = {int(row[0]) for row in rows}
                assert statuses == expected[kind], f"{page_id(page)}: {kind} table"
                seen[kind] = statuses
    assert set(seen) == set(expected), "a page lists each kind of exit status"


def test_the_variable_table_lists_exactly_what_the_service_reads():
    documented = documented_variables()
    read = environment_read()
    assert sorted(set(documented) - read) == [], "documented but never read"
    assert sorted(read - set(documented)) == [], "read but not documented"


def test_the_environment_reader_finds_every_kind_of_lookup(tmp_path):
    (tmp_path / "m.py").write_text(
        "import os\n"
        "a = os.environ.get('A_VAR')\n"
        "b = env.get('B_VAR', '1')\n"
        "c = env_int(env, 'C_VAR', 1, 0, 2)\n"
        "d = read_secret_file('D_VAR')\n"
        "e = os.environ['E_VAR']\n"
        "os.environ['NOT_READ'] = 'x'\n"
        "f = request.headers.get('X_HEADER')\n"
    )
    assert environment_read(tmp_path) == {"A_VAR", "B_VAR", "C_VAR", "D_VAR", "D_VAR_FILE", "E_VAR"}


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_repository_path_exists(page):
    missing = [p for p in repo_paths(page.read_text(encoding="utf-8")) if not (REPO / p).exists()]
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_stack_default_matches_stack_yml(page):
    named = set(STACK_DEFAULT.findall(page.read_text(encoding="utf-8")))
    assert sorted(named - stack_defaults()) == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_resolves(page):
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        if not (page.parent / target.split("#", 1)[0]).exists():
            broken.append(target)
    assert broken == []


def test_the_benchmark_figures_are_those_of_the_committed_report():
    report = json.loads((REPO / "docs" / "bench.json").read_text(encoding="utf-8"))
    text = (REPO / "docs" / "performance.md").read_text(encoding="utf-8")
    date = report["machine"]["date"]
    assert f"{date[:10]} at {date[11:16]} UTC" in text
    found = {tuple(header[:2]): rows for header, rows in tables(text)}
    for row in found[("target", "req/s")]:
        t = report["targets"][row[0]]
        assert row[1:] == [
            f"{t['rps']:,.0f}",
            f"{t['p50_ms']:.1f}",
            f"{t['p99_ms']:.1f}",
            str(t["errors"]),
            f"{t['x_hello']:.2f}",
            f"{t['x_peer']:.2f}",
            f"{t['cpu_ms_per_request']['server']:.3f}",
        ], row[0]
    assert {row[0]: row[2] == "yes" for row in found[("goal", "this run")]} == report["goals"]


def _swarm_figures(report: dict) -> dict[str, str]:
    """What `docs/performance.md`'s swarm table shows, from a replay report."""
    steps = {step["name"]: step for step in report["steps"]}
    summary = report["swarm_timing"]["summary"]
    return {
        "a replica ready (its workers accept), median": f"{summary['median_ready_s']:.2f}",
        "a replica healthy, median": f"{summary['median_healthy_s']:.2f}",
        "a replica healthy, max": f"{summary['max_healthy_s']:.2f}",
        "wait for the probe after a worker is ready, median": (
            f"{summary['median_wait_for_probe_s']:.2f}"
        ),
        "heal: the new replica healthy": f"{steps['heal']['swarm']['first_healthy_s']:.2f}",
        "drain: the replacement healthy": f"{steps['drain']['swarm']['first_healthy_s']:.2f}",
        "update to 2.0: six replicas healthy": f"{steps['update']['swarm']['all_healthy_s']:.2f}",
        "the broken release rolled back by Swarm": str(
            steps["auto-rollback"]["rolled_back_seconds"]
        ),
        "requests failed": str(report["failures"]),
    }


def test_the_swarm_figures_are_those_of_the_committed_replay():
    report = json.loads((REPO / "docs" / "replay.json").read_text(encoding="utf-8"))
    text = (REPO / "docs" / "performance.md").read_text(encoding="utf-8")
    assert f"Engine {report['lab']['engine_version'].split('+')[0]}" in text
    found = {tuple(header[:2]): rows for header, rows in tables(text)}
    shown = {row[0]: row[1] for row in found[("figure", "this run")]}
    assert shown == _swarm_figures(report)


def test_the_readme_stays_short_and_keeps_the_ci_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci == "./tests/setup.sh && .venv/bin/python -m pytest"
    assert ci in split_page(readme)[1]
