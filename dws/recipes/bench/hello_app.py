"""The `hello` target: the smallest Flask app worth measuring.

It answers a small JSON object and touches nothing else, so under the same
gunicorn settings and the same nginx as bootservice it measures the ceiling
of Flask + gunicorn on this machine: what no Flask service can beat.
"""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/hello")
def hello():
    """A fixed, small JSON answer."""
    return jsonify(message="hello")


@app.get("/healthz")
def healthz():
    """Liveness, so the benchmark can wait for it like for bootservice."""
    return jsonify(status="ok")
