"""`python -m bootservice.healthcheck`: the image's HEALTHCHECK, no curl needed.

Exits 0 when http://127.0.0.1:$PORT/healthz answers 200 within 2 seconds.
The image runs this file as a script (`python .../healthcheck.py`): it must
import only the standard library, or every probe would pay for importing
Flask and SQLAlchemy (seconds on a busy node, enough to look unhealthy).
"""

from __future__ import annotations

import os
import sys
import urllib.request


def main() -> int:
    """Probe /healthz once; 0 for healthy, 1 otherwise."""
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8888')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - fixed local URL
            return 0 if resp.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
