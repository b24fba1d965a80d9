"""CPU time, memory and children of processes, read from /proc."""

from __future__ import annotations

import os
import re
from pathlib import Path


def children(pid: int) -> list[int]:
    """Direct children of `pid` (gunicorn workers of a master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        # The command name is in parentheses and may contain spaces.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, reaped_children: bool = False) -> float:
    """CPU time (user + system) `pid` used so far; 0 if it is gone.

    With `reaped_children`, also what its exited and reaped children used:
    gunicorn replaces workers (max_requests), and a master's cutime/cstime
    keep the time of the workers it replaced.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # fields[0] is field 3 (state)
    used = int(fields[11]) + int(fields[12])  # utime, stime
    if reaped_children:
        used += int(fields[13]) + int(fields[14])  # cutime, cstime
    return used / TICKS


def tree_cpu(master: int) -> float:
    """CPU seconds of a master and its workers, past and present."""
    return cpu_seconds(master, reaped_children=True) + sum(map(cpu_seconds, children(master)))


def rss_mb(pid: int) -> float | None:
    """Resident memory of `pid` in MB (VmRSS), None if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return round(int(match.group(1)) / 1024, 1) if match else None
