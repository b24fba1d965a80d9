"""The seed SQL is the one source of the data; its INSERTs load on SQLite."""

from __future__ import annotations

from bootservice.seed import insert_statements, split_statements

from helpers import SEED_SQL


def test_split_respects_quotes_and_comments():
    sql = "-- a; comment\nINSERT INTO t VALUES ('a;b', 'it''s');\n# x;\nSELECT \"q;\"; `w;`"
    assert list(split_statements(sql)) == [
        "INSERT INTO t VALUES ('a;b', 'it''s')",
        'SELECT "q;"',
        "`w;`",
    ]


def test_seed_file_holds_the_original_rows():
    inserts = insert_statements(SEED_SQL)
    tables = [s.split("`")[1] for s in inserts]
    assert tables.count("country") == 183 and tables.count("city") == 2
    assert tables.count("user_info") == 5


def test_no_plain_text_passwords_in_seed():
    text = SEED_SQL.read_text(encoding="utf-8")
    for plain in ("'12345678'", "'aaaa'", "'bbbb'", "'cccc'", "'dddd'"):
        assert plain not in text
    assert text.count("'scrypt:") == 5


def test_embedded_database_loaded_once(app, rows):
    assert rows("SELECT COUNT(*) FROM country") == [(183,)]
    assert rows("SELECT name FROM city ORDER BY id") == [("石家庄",), ("邯郸",)]
    from bootservice import db

    with app.app_context():
        assert db.ensure_embedded_schema(db.engine()) is False
    assert rows("SELECT COUNT(*) FROM user_info") == [(5,)]


def test_workers_starting_together_seed_once(tmp_path):
    # gunicorn starts several workers at once on a new embedded database.
    from concurrent.futures import ProcessPoolExecutor

    path = tmp_path / "race.sqlite3"
    with ProcessPoolExecutor(4) as pool:
        results = list(pool.map(_seed_in_child, [str(path)] * 4))
    assert sorted(results) == [False, False, False, True]
    import sqlite3

    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM country").fetchone() == (183,)
    conn.close()


def _seed_in_child(path: str) -> bool:
    from bootservice.config import load_config
    from bootservice.db import ensure_embedded_schema, make_engine

    engine = make_engine(load_config({"SQLITE_PATH": path}))
    try:
        return ensure_embedded_schema(engine)
    finally:
        engine.dispose()
