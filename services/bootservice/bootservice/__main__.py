"""`python -m bootservice`: the whole service on one machine, for development.

With no database configured it serves from an embedded SQLite file created
from services/mysql/citydb.sql. Not for production: use gunicorn (README).
"""

from __future__ import annotations

import argparse
import os
import sys

from .config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the development server."""
    parser = argparse.ArgumentParser(
        prog="python -m bootservice",
        description="Run bootservice for development (embedded SQLite unless DB_HOST "
        "or DATABASE_URL is set).",
    )
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", default=os.environ.get("PORT", "8888"))
    args = parser.parse_args(argv)
    if not args.port.isdigit() or not 0 < int(args.port) < 65536:
        parser.error(f"--port (or PORT) must be between 1 and 65535, got {args.port!r}")
    args.port = int(args.port)

    try:
        config = load_config()
    except ConfigError as exc:
        print(f"bootservice: configuration error: {exc}", file=sys.stderr)
        return 2

    from . import create_app

    try:
        app = create_app(config)
    except ConfigError as exc:
        print(f"bootservice: configuration error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"bootservice: cannot load the seed data: {exc}", file=sys.stderr)
        return 2
    where = config.database_url.render_as_string(hide_password=True)
    print(f"bootservice {config.app_version} on http://{args.host}:{args.port}/ ({where})")
    if config.metrics:
        from . import metrics

        try:
            metrics.serve(app, args.host, config.metrics_port)
        except OSError as exc:
            print(
                f"bootservice: no metrics: cannot listen on {args.host}:{config.metrics_port}: "
                f"{exc.strerror}",
                file=sys.stderr,
            )
        else:
            print(f"metrics on http://{args.host}:{config.metrics_port}/metrics")
    try:
        app.run(host=args.host, port=args.port, threaded=True)
    except OSError as exc:
        print(f"bootservice: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
