"""The rotations' bookkeeping: versioned secret names, the variables kept
between deploys, which account comes next, what a task was given. The
rotations themselves run on the lab's swarm in the replay (e2e)."""

from __future__ import annotations

import time

import pytest

from dws import rotate, stack_vars


class SecretList:
    """A lab whose manager lists these secrets (`docker secret ls`)."""

    def __init__(self, *names: str) -> None:
        self.names = names

    def docker(self, *args: str, **_kwargs) -> str:
        assert args[:2] == ("secret", "ls")
        return "\n".join(self.names) + "\n"


@pytest.mark.parametrize(
    "names, expected",
    [
        ((), "bootservice_secret_key_2"),
        (("bootservice_secret_key",), "bootservice_secret_key_2"),
        (("bootservice_secret_key_2", "bootservice_secret_key_10"), "bootservice_secret_key_11"),
        # Another secret whose name merely starts the same is not a version.
        (
            ("bootservice_secret_key_fallbacks_7", "bootservice_secret_key_x3"),
            "bootservice_secret_key_2",
        ),
    ],
)
def test_the_next_version_of_a_secret_name(names, expected):
    assert rotate.next_name(SecretList(*names), "bootservice_secret_key") == expected


def test_the_accounts_take_turns_and_a_foreign_one_is_refused():
    assert rotate._other_user("dws") == "dws_b"
    assert rotate._other_user("dws_b") == "dws"
    with pytest.raises(rotate.RotationError, match="'citydb_app'"):
        rotate._other_user("citydb_app")


def test_a_task_names_its_secrets_by_file():
    task = {
        "Spec": {
            "ContainerSpec": {
                "Secrets": [
                    {"File": {"Name": "db_password"}, "SecretName": "mysql_app_password_2"},
                    {"File": {"Name": "bootservice_secret_key"}, "SecretName": "key_3"},
                ]
            }
        }
    }
    assert rotate.secrets_of(task) == {
        "db_password": "mysql_app_password_2",
        "bootservice_secret_key": "key_3",
    }
    assert rotate.secrets_of({"Spec": {"ContainerSpec": {}}}) == {}


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setattr(stack_vars, "STATE", tmp_path / "stack-variables.json")
    monkeypatch.setattr(rotate, "PENDING", tmp_path / "rotation.json")
    return tmp_path


def test_the_variables_of_a_deploy_are_kept_and_a_new_volume_forgets_the_accounts(state):
    assert stack_vars.load() == {}
    stack_vars.save({"NGINX_VERSION": "1.22", "DB_USER": "dws_b"})
    stack_vars.update(
        DB_PASSWORD_SECRET="mysql_app_password_2", BOOTSERVICE_SECRET_KEY_SECRET="k_2"
    )
    stack_vars.forget_database()
    assert stack_vars.load() == {"NGINX_VERSION": "1.22", "BOOTSERVICE_SECRET_KEY_SECRET": "k_2"}


def test_the_rotation_override_is_deployed_only_while_a_fallback_key_is_named():
    assert stack_vars.stack_files({}) == ["stack.yml"]
    assert stack_vars.stack_files({stack_vars.FALLBACK_KEY: "bootservice_secret_key"}) == [
        "stack.yml",
        "stack.rotation.yml",
    ]


def test_the_overrides_follow_their_variables():
    both = {stack_vars.FALLBACK_KEY: "k", stack_vars.MONITORING_KEY: "prom"}
    assert stack_vars.stack_files(both) == [
        "stack.yml",
        "stack.rotation.yml",
        "stack.monitoring.yml",
    ]
    kept = stack_vars.apply(both, {stack_vars.FALLBACK_KEY: None, "DB_USER": "dws_b"})
    assert kept == {stack_vars.MONITORING_KEY: "prom", "DB_USER": "dws_b"}
    assert both == {stack_vars.FALLBACK_KEY: "k", stack_vars.MONITORING_KEY: "prom"}


def test_a_rollout_that_swarm_gave_up_ends_the_wait_at_once(monkeypatch):
    monkeypatch.setattr(rotate, "ROLL_OUT_SECONDS", 30)
    monkeypatch.setattr(
        rotate.deploy_mod, "update_status", lambda lab, service, since: {"State": "paused"}
    )
    started = time.monotonic()
    with pytest.raises(rotate.RotationError, match=r"update of dws_nginx stopped \(paused\)"):
        rotate.wait_rolled_out(None, "dws_nginx", {"f": "s"}, 3, 0.0)
    assert time.monotonic() - started < 5


def test_another_kind_of_rotation_under_way_is_finished_first(state):
    rotate._record({"kind": "tls-cert", "phase": "nodes"})
    with pytest.raises(rotate.RotationError, match="`dws rotate tls-cert`"):
        rotate.session_key(SecretList())
    with pytest.raises(rotate.RotationError, match="`dws rotate tls-cert`"):
        rotate.db_password(SecretList())
    assert rotate.pending() == {"kind": "tls-cert", "phase": "nodes"}
    rotate._record(None)
    assert rotate.pending() is None


def test_a_rotation_needs_a_deployed_stack(state):
    with pytest.raises(rotate.RotationError, match="dws lab deploy"):
        rotate._deploy(SecretList(), print, DB_USER="dws_b")
