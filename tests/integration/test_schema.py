"""The schema on MariaDB: citydb.sql plus the migrations matches the models,
the baseline revision is citydb.sql's schema, and a database created by the
previous release (citydb.sql alone) is upgraded in place without losing a row."""

from __future__ import annotations

import os
import subprocess
import sys

from alembic import command
from sqlalchemy import create_engine, inspect
from sqlalchemy.dialects import mysql
from werkzeug.security import check_password_hash

from bootservice.migrate import BASELINE, _alembic_config, head_revision, upgrade
from bootservice.models import Base

from helpers import SEED_SQL


def _engine(mariadb):
    return create_engine(
        f"mysql+pymysql://root:{mariadb.root_password}@127.0.0.1:{mariadb.port}/citydb"
    )


def test_tables_and_columns_agree(mariadb):
    engine = _engine(mariadb)
    try:
        db = inspect(engine)
        assert set(db.get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
        for name, table in Base.metadata.tables.items():
            real = {c["name"]: c for c in db.get_columns(name)}
            assert set(real) == set(table.c.keys()), name
            for column in table.c:
                got = real[column.name]
                assert got["nullable"] == column.nullable, f"{name}.{column.name} nullability"
                # Same SQL type on MariaDB as the model declares for MySQL.
                assert str(got["type"]) == column.type.compile(dialect=mysql.dialect()), (
                    f"{name}.{column.name}: {got['type']} vs {column.type}"
                )
                if column.server_default is not None:
                    assert str(got["default"]).strip("'") == column.server_default.arg
                length = getattr(column.type, "length", None)
                assert getattr(got["type"], "length", None) == length, f"{name}.{column.name}"
            pk = db.get_pk_constraint(name)["constrained_columns"]
            assert pk == [c.name for c in table.primary_key.columns], name
            uniques = {tuple(u["column_names"]) for u in db.get_unique_constraints(name)}
            model_uniques = {
                tuple(c.name for c in con.columns)
                for con in table.constraints
                if con.__class__.__name__ == "UniqueConstraint"
            }
            assert uniques == model_uniques, name
    finally:
        engine.dispose()


def test_tables_are_utf8mb4(mariadb):
    rows = mariadb.query(
        "SELECT table_name, table_collation FROM information_schema.tables "
        "WHERE table_schema = 'citydb'"
    )
    assert {r[1] for r in rows} == {"utf8mb4_unicode_ci"}
    assert len(rows) == len(Base.metadata.tables) + 1  # and alembic_version


def test_seed_rows_loaded(mariadb):
    counts = mariadb.query(
        "SELECT (SELECT COUNT(*) FROM country), (SELECT COUNT(*) FROM city), "
        "(SELECT COUNT(*) FROM user_info)"
    )
    assert counts == ((183, 2, 5),)
    assert mariadb.query("SELECT name, state FROM city WHERE id = 1") == (("石家庄", "河北"),)


def test_app_user_is_least_privilege(mariadb):
    import pymysql
    import pytest

    with mariadb.connect("dws") as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM country")
        assert cur.fetchone() == (183,)
        with pytest.raises(pymysql.err.OperationalError, match="DROP command denied"):
            cur.execute("DROP TABLE country")


COLUMNS = (
    "SELECT table_name, column_name, column_type, is_nullable, column_default, "
    "column_comment, extra FROM information_schema.columns WHERE table_schema = %s "
    "AND table_name IN ('country', 'city', 'user_info') ORDER BY table_name, ordinal_position"
)
INDEXES = (
    "SELECT table_name, index_name, column_name, non_unique FROM information_schema.statistics "
    "WHERE table_schema = %s AND table_name IN ('country', 'city', 'user_info') "
    "ORDER BY table_name, index_name, seq_in_index"
)
TABLES = (
    "SELECT table_name, table_collation, table_comment FROM information_schema.tables "
    "WHERE table_schema = %s AND table_name IN ('country', 'city', 'user_info') "
    "ORDER BY table_name"
)


def _previous_release_database(mariadb, name: str) -> None:
    """`name` created exactly as the previous release's mysql image did: citydb.sql."""
    sql = SEED_SQL.read_text(encoding="utf-8").replace("`citydb`", f"`{name}`")
    mariadb.root_sql(f"DROP DATABASE IF EXISTS `{name}`")
    subprocess.run(
        [
            "mariadb",
            "--no-defaults",
            "-h",
            "127.0.0.1",
            "-P",
            str(mariadb.port),
            "-uroot",
            f"--password={mariadb.root_password}",
        ],
        input=sql.encode(),
        check=True,
        capture_output=True,
    )


def _engine_for(mariadb, name: str):
    return create_engine(
        f"mysql+pymysql://root:{mariadb.root_password}@127.0.0.1:{mariadb.port}/{name}"
        "?charset=utf8mb4"
    )


def test_baseline_revision_is_citydb_sql(mariadb):
    _previous_release_database(mariadb, "schema_sql")
    mariadb.root_sql(
        "DROP DATABASE IF EXISTS schema_alembic",
        "CREATE DATABASE schema_alembic CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    )
    engine = _engine_for(mariadb, "schema_alembic")
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), BASELINE)
    finally:
        engine.dispose()
    for query in (COLUMNS, INDEXES, TABLES):
        assert mariadb.query(query, "schema_alembic") == mariadb.query(query, "schema_sql")
    mariadb.root_sql("DROP DATABASE schema_sql", "DROP DATABASE schema_alembic")


def test_previous_release_database_upgrades_in_place(mariadb):
    name = "citydb_prev"
    _previous_release_database(mariadb, name)
    mariadb.root_sql(
        f"INSERT INTO {name}.country (countryname, countrycode) "
        "VALUES ('Cote d''Ivoire', 'CI'), ('</script>\u202e', 'XX')",
        f"INSERT INTO {name}.city (name, state) VALUES ('保定', '河北')",
        f"INSERT INTO {name}.user_info (username, password, usertype, enabled, email) "
        "VALUES ('kept', 'scrypt:1:1:1$x$y', '2', 0, 'k@example.org')",
    )
    dump = {
        table: mariadb.query(f"SELECT * FROM {name}.{table} ORDER BY id")
        for table in ("country", "city", "user_info")
    }
    assert len(dump["country"]) == 185
    engine = _engine_for(mariadb, name)
    try:
        before, after = upgrade(engine)
        assert (before, after) == (BASELINE, head_revision())
        assert upgrade(engine) == (head_revision(), head_revision())  # a second run: no-op
    finally:
        engine.dispose()
    for table, rows in dump.items():
        assert mariadb.query(f"SELECT * FROM {name}.{table} ORDER BY id") == rows, table
    assert mariadb.query(f"SELECT version_num FROM {name}.alembic_version") == ((head_revision(),),)
    assert mariadb.query(f"SELECT name, version FROM {name}.table_version ORDER BY name") == (
        ("city", 0),
        ("country", 0),
        ("user_info", 0),
    )
    mariadb.root_sql(f"DROP DATABASE {name}")


def test_migrate_command_secures_the_published_accounts(mariadb, tmp_path):
    name = "citydb_deploy"
    _previous_release_database(mariadb, name)
    secret = tmp_path / "admin_password"
    secret.write_text("a-long-admin-secret\n")
    env = {
        **os.environ,
        "DATABASE_URL": f"mysql+pymysql://root:{mariadb.root_password}@127.0.0.1:"
        f"{mariadb.port}/{name}?charset=utf8mb4",
        "ADMIN_PASSWORD_FILE": str(secret),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bootservice.migrate"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "disabled the accounts with published passwords: test1" in done.stderr
    users = mariadb.query(f"SELECT username, usertype, enabled, password FROM {name}.user_info")
    by_name = {u[0]: u for u in users}
    assert by_name["admin"][1:3] == ("1", 1)
    assert check_password_hash(by_name["admin"][3], "a-long-admin-secret")
    for demo in ("test1", "test2", "test3", "test4", "test5"):
        assert by_name[demo][2:] == (0, "!"), demo
    # Run again (a restarted task): nothing changes, the admin keeps its password.
    again = subprocess.run(
        [sys.executable, "-m", "bootservice.migrate"], env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert mariadb.query(f"SELECT password FROM {name}.user_info WHERE username = 'admin'") == (
        (by_name["admin"][3],),
    )
    mariadb.root_sql(f"DROP DATABASE {name}")
