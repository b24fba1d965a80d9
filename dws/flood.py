"""Password-guessing flood: `dws flood [--seconds N] [--json PATH]`.

Starts the production request path on loopback as the benchmark does
(nginx with the project's config -> 3 bootservice instances under gunicorn
-> MariaDB), then measures, one request at a time, the latency of
`/healthz` and of the anonymous `/countries` page: first on an idle stack,
then while wrk keeps 6 connections guessing passwords through nginx, once
with HTTP Basic on the API and once through the login form. Prints the
medians and p90s, and how the guesses were answered (401, 429, other).
"""

from __future__ import annotations

import base64
import json
import re
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from dws import bench_stack, tls

GUESSERS = 6
SCRIPT = """
local method, path, body, headers = "%s", "%s", [[%s]], {%s}
local counts = {}
request = function()
  return wrk.format(method, path, headers, body)
end
response = function(status)
  counts[status] = (counts[status] or 0) + 1
end
done = function(summary, latency, requests)
end
"""


def sample(url: str, seconds: float, verify: str | bool = True) -> list[float]:
    """Latencies in ms of back-to-back GETs of `url` for `seconds`."""
    spent = []
    deadline = time.monotonic() + seconds
    with tls.client_session(verify) as http:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            resp = http.get(url, timeout=30)
            spent.append((time.perf_counter() - start) * 1000)
            if resp.status_code != 200:
                raise RuntimeError(f"{url}: {resp.status_code}")
    return spent


def figures(spent: list[float]) -> dict:
    ordered = sorted(spent)
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(ordered[int(len(ordered) * 0.9)], 2),
    }


def flood(url: str, method: str, path: str, body: str, headers: dict, seconds: float) -> dict:
    """wrk with GUESSERS connections; returns its status counts (from nginx's log)."""
    lua_headers = ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(SCRIPT % (method, path, body, lua_headers))
    done = subprocess.run(
        ["wrk", "-t2", f"-c{GUESSERS}", f"-d{round(seconds)}s", "-s", script.name, url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
    )
    Path(script.name).unlink()
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    return {"guesses_per_s": float(match.group(1)) if match else None}


def statuses(log: Path, since: int, uri: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in log.read_text().splitlines()[since:]:
        entry = json.loads(line)
        if entry["uri"].startswith(uri):
            counts[str(entry["status"])] = counts.get(str(entry["status"]), 0) + 1
    return counts


def _into(result: dict, func, *args) -> None:
    result.update(func(*args))


def measure(stack: bench_stack.Stack, seconds: float) -> dict:
    base = stack.url()
    report: dict = {"idle": {}}
    for name, path in (("healthz", "/healthz"), ("countries", "/countries")):
        report["idle"][name] = figures(sample(base + path, seconds, stack.ca))

    token = base64.b64encode(b"test1:not-the-password").decode()
    login = tls.client_session(stack.ca)
    page = login.get(f"{base}/login", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    cookie = "; ".join(f"{c.name}={c.value}" for c in login.cookies)
    modes = {
        "api_basic": (
            "POST",
            "/api/v1/countries",
            '{"countryname": "x", "countrycode": "x"}',
            {"Content-Type": "application/json", "Authorization": f"Basic {token}"},
        ),
        "login_form": (
            "POST",
            "/login",
            f"username=test1&password=guess-guess&csrf_token={csrf}",
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        ),
    }
    for mode, (method, path, body, headers) in modes.items():
        stack.mariadb.root_sql("DELETE FROM citydb.auth_throttle")
        since = len(stack.access_log.read_text().splitlines())
        result: dict = {}
        worker = threading.Thread(
            target=_into,
            args=(result, flood, base, method, path, body, headers, seconds * 2 + 2),
        )
        worker.start()
        time.sleep(1)
        entry = {}
        for name, target in (("healthz", "/healthz"), ("countries", "/countries")):
            entry[name] = figures(sample(base + target, seconds, stack.ca))
        worker.join()
        entry["guesses"] = {**result, "statuses": statuses(stack.access_log, since, path)}
        report[mode] = entry
    return report
