"""The schema services/mysql/citydb.sql creates on MariaDB matches the models."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect
from sqlalchemy.dialects import mysql

from bootservice.models import Base


def _engine(mariadb):
    return create_engine(
        f"mysql+pymysql://root:{mariadb.root_password}@127.0.0.1:{mariadb.port}/citydb"
    )


def test_tables_and_columns_agree(mariadb):
    engine = _engine(mariadb)
    try:
        db = inspect(engine)
        assert set(db.get_table_names()) == set(Base.metadata.tables)
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
    assert {r[1] for r in rows} == {"utf8mb4_unicode_ci"} and len(rows) == 4


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
