"""The monitoring override's files agree with each other and with the tools
that read them: Prometheus's configuration passes `promtool check config`,
Alertmanager's `amtool check-config`; every service that Prometheus is to
scrape carries the deploy labels its relabelling reads, with a job the
rules know; the lab names every config file the override deploys."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from dws import monitoring, standins
from dws.util import REPO

PROMETHEUS_YML = REPO / "services" / "prometheus" / "prometheus.yml"
ALERTMANAGER_YML = REPO / "services" / "prometheus" / "alertmanager.yml"
RULES = REPO / "services" / "prometheus" / "alerts.yml"
JOB_LABEL, PORT_LABEL = "org.dws.metrics.job", "org.dws.metrics.port"


def tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which(name)
    if exe is None:
        pytest.fail(f"{name} is not installed: run tests/setup.sh", pytrace=False)
    done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{name} {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done


def stack(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


def test_prometheus_accepts_its_configuration_with_the_rules(tmp_path):
    # The configuration names the rules where the override mounts them.
    text = PROMETHEUS_YML.read_text()
    assert "/etc/prometheus/alerts.yml" in text
    copy = tmp_path / "prometheus.yml"
    copy.write_text(text.replace("/etc/prometheus/alerts.yml", str(RULES)))
    done = tool("promtool", "check", "config", str(copy))
    assert "SUCCESS" in done.stdout + done.stderr


def test_alertmanager_accepts_its_configuration():
    tool("amtool", "check-config", str(ALERTMANAGER_YML))


def test_every_scraped_service_is_labelled_with_a_job_the_rules_read():
    services = {**stack("stack.yml")["services"], **stack("stack.monitoring.yml")["services"]}
    labelled = {
        name: (svc["deploy"]["labels"][JOB_LABEL], svc["deploy"]["labels"][PORT_LABEL])
        for name, svc in services.items()
        if JOB_LABEL in svc.get("deploy", {}).get("labels", {})
    }
    assert labelled == {
        "bootservice": ("bootservice", "9888"),
        "nginx-exporter": ("nginx", "9113"),
        "mysqld-exporter": ("mysql", "9104"),
    }
    rules = RULES.read_text()
    for job, _port in labelled.values():
        assert f'job="{job}"' in rules, job
    # The relabelling reads exactly these two labels, Prometheus's spelling.
    config = PROMETHEUS_YML.read_text()
    for label in (JOB_LABEL, PORT_LABEL):
        assert "__meta_dockerswarm_service_label_" + re.sub(r"\W", "_", label) in config
    # bootservice's listener is on the port its label gives.
    env = stack("stack.yml")["services"]["bootservice"]["environment"]
    assert env.get("METRICS_PORT", "9888") == labelled["bootservice"][1]


def test_the_lab_hashes_every_config_the_override_deploys():
    configs = stack("stack.monitoring.yml")["configs"]
    files = sorted(c["file"].removeprefix("./") for c in configs.values())
    assert files == sorted(monitoring.CONFIG_FILES)
    # Each config's name changes with MONITORING_CONFIG: a swarm config cannot.
    assert all("${MONITORING_CONFIG" in c["name"] for c in configs.values())


def test_the_override_names_an_image_variable_for_each_stand_in():
    text = (REPO / "stack.monitoring.yml").read_text()
    assert set(monitoring.IMAGE_VARIABLES) == set(standins.MONITORING)
    for variable in monitoring.IMAGE_VARIABLES.values():
        assert f"${{{variable}:-" in text, variable
