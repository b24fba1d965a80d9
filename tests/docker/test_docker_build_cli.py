"""build.py's command line: help, the failure cases and their exit codes, the layer cache."""

from __future__ import annotations

import base64
import json
import re
import secrets
import subprocess
import sys

import pytest

from dws.util import free_port

from dockerlib import copy_tree_for_build, registry_process, run_build

pytestmark = pytest.mark.docker


def last_line(proc: subprocess.CompletedProcess) -> str:
    """The one-line error build.py ends with."""
    lines = proc.stderr.strip().splitlines()
    return lines[-1] if lines else ""


def test_help_documents_every_option_and_exit_status():
    proc = run_build("--help")
    assert proc.returncode == 0
    for text in (
        "--push",
        "--registry",
        "tcr:5000",
        "--namespace",
        "myhub",
        "--only",
        "--versions",
        "1.0,2.0",
        "--base-image",
        "DOCKER_HOST",
        "2.1-broken-dws",
        "insecure-registries",
    ):
        assert text in proc.stdout, text
    for code in range(1, 9):
        assert re.search(rf"^  {code}  \w", proc.stdout, re.M), f"exit status {code} undocumented"


def test_engine_not_reachable_is_status_3():
    proc = run_build("--only", "nginx", env={"DOCKER_HOST": "unix:///nonexistent"})
    assert proc.returncode == 3, proc.stderr
    assert re.match(
        r"build.py: error: Docker engine not reachable at unix:///nonexistent: .+", last_line(proc)
    )
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_base_image_is_status_4():
    proc = run_build("--only", "nginx", "--base-image", "nginx=dws-test-missing:0")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert re.match(
        r"build.py: error: base image dws-test-missing:0 \(for nginx\) is missing and could "
        r"not be pulled: .+",
        last_line(proc),
    )


def test_failing_build_step_is_status_5_with_its_output(bases, registry):
    # A base without Python: the venv step of the bootservice Dockerfile fails.
    proc = run_build(
        "--only",
        "bootservice",
        "--versions",
        "1.0",
        "--registry",
        registry.address,
        "--base-image",
        f"python={bases['nginx']}",
    )
    assert proc.returncode == 5, proc.stdout[-3000:] + proc.stderr
    line = last_line(proc)
    assert line.startswith("build.py: error: build of ")
    assert "failed at 'RUN python -m venv /opt/venv'" in line
    assert "returned a non-zero code: 127" in line
    # The failing step's own output, above the error line.
    assert "python: not found" in proc.stderr


def test_unreachable_registry_is_status_6(bases):
    port = free_port()  # nothing listens there
    proc = run_build(
        "--push",
        "--only",
        "nginx",
        "--registry",
        f"127.0.0.1:{port}",
        "--base-image",
        f"nginx={bases['nginx']}",
    )
    assert proc.returncode == 6, proc.stdout[-3000:] + proc.stderr
    assert re.match(
        rf"build.py: error: registry 127.0.0.1:{port} unreachable from the engine while "
        rf"pushing 127.0.0.1:{port}/myhub/nginx:[\d.]+-dws: .*connection refused",
        last_line(proc),
    )


def _bcrypt(password: str) -> str:
    # The crypt module (deprecated, so in a child without -W error) uses
    # glibc's libxcrypt, which does bcrypt: what the registry's htpasswd needs.
    code = "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))"
    return subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code, password],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory):
    """A registry that requires a login (htpasswd), and its credentials."""
    work = tmp_path_factory.mktemp("auth-registry")
    user, password = "dws-test", secrets.token_urlsafe(16)
    htpasswd = work / "htpasswd"
    htpasswd.write_text(f"{user}:{_bcrypt(password)}\n")
    with registry_process(work, htpasswd=htpasswd) as reg:
        yield reg, user, password


def test_push_refused_without_credentials_is_status_7(bases, auth_registry, tmp_path):
    reg, _, _ = auth_registry
    empty_config = tmp_path / "docker-config"
    empty_config.mkdir()
    proc = run_build(
        "--push",
        "--only",
        "nginx",
        "--registry",
        reg.address,
        "--base-image",
        f"nginx={bases['nginx']}",
        env={"DOCKER_CONFIG": str(empty_config)},
    )
    assert proc.returncode == 7, proc.stdout[-3000:] + proc.stderr
    assert re.match(
        rf"build.py: error: push of {re.escape(reg.address)}/myhub/nginx:[\d.]+-dws refused "
        rf"by registry {re.escape(reg.address)}: .+ \(log in with: docker login ",
        last_line(proc),
    )


def test_push_uses_the_docker_login_credentials(bases, auth_registry, tmp_path):
    reg, user, password = auth_registry
    config = tmp_path / "docker-config"
    config.mkdir()
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {reg.address: {"auth": token}}}))
    proc = run_build(
        "--push",
        "--only",
        "nginx",
        "--registry",
        reg.address,
        "--base-image",
        f"nginx={bases['nginx']}",
        env={"DOCKER_CONFIG": str(config)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    row = next(x for x in proc.stdout.splitlines() if x.startswith(f"{reg.address}/myhub/nginx "))
    assert re.search(r"\s+yes$", row), row
    # The summary ends with the variables stack.yml needs for these tags.
    assert f"  export REGISTRY={reg.address} NAMESPACE=myhub NGINX_VERSION=1.22" in proc.stdout


def test_code_change_rebuilds_reusing_the_dependency_layer(api, built, base_args, tmp_path):
    """Touch only application code: the venv layer comes from the cache."""
    tree = copy_tree_for_build(tmp_path)
    registry = "127.0.0.1:1"  # never pushed to; only the tag prefix
    args = ["--only", "bootservice", "--versions", "1.0", "--registry", registry, *base_args]
    ref = f"{registry}/myhub/bootservice:1.0-dws"
    broken = f"{registry}/myhub/bootservice:2.1-broken-dws"
    try:
        first = run_build(*args, cwd=tree)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr
        before = api.inspect_image(ref)["RootFS"]["Layers"]

        init = tree / "services" / "bootservice" / "bootservice" / "__init__.py"
        # Unique per run, or an earlier run's layer would be a legitimate cache hit.
        init.write_text(init.read_text() + f"\n# a code-only change {secrets.token_hex(8)}\n")
        second = run_build(*args, cwd=tree)
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr
        after = api.inspect_image(ref)["RootFS"]["Layers"]

        steps = _steps(second.stdout, "[bootservice:1.0-dws]")
        pip_step = next(s for s in steps if s.startswith("RUN /opt/venv/bin/pip install"))
        assert steps[pip_step] == "cache", steps
        assert steps["COPY --from=deps /opt/venv /opt/venv"] == "cache", steps
        assert steps["COPY services/bootservice/bootservice /app/bootservice"] == "built", steps
        compile_step = next(s for s in steps if s.startswith("RUN python -m compileall"))
        assert steps[compile_step] == "built", steps
        # Same layers up to the code, new ones for the code and its bytecode.
        assert after[:-2] == before[:-2]
        assert after[-2] != before[-2] and after[-1] != before[-1]
    finally:
        for tag in (ref, broken):
            try:
                api.remove_image(tag, noprune=False)
            except Exception:  # noqa: BLE001 - cleanup of a failed run
                pass


def _steps(stdout: str, prefix: str) -> dict[str, str]:
    """{step instruction: "cache" | "built"} of one image's build, from build.py's output."""
    result: dict[str, str] = {}
    current = None
    for line in stdout.splitlines():
        if not line.startswith(prefix + " "):
            continue
        text = line[len(prefix) + 1 :]
        m = re.match(r"Step \d+/\d+ : (.*)", text)
        if m:
            current = " ".join(m.group(1).split())
            result[current] = "built"
        elif current and "Using cache" in text:
            result[current] = "cache"
    return result
