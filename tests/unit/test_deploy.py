"""The deploy files, checked as far as this machine can check them (no Docker
daemon, no cluster, no helm here):

- ``deploy/Dockerfile``: every COPY source exists and is sent in the build
  context, slim Python 3.11, the final stage runs as a non-root user, its CMD
  and HEALTHCHECK name a real entry point and the worker's /healthz.
- ``deploy/compose/compose.yaml``: loads; Temporal on PostgreSQL with its UI,
  the project's Postgres, migrate then ``playbook setup`` one-shot, N workers
  (``deploy.replicas``), the web endpoint; every command of the project's image
  is a real CLI verb or ``python -m`` module; every variable it gives the
  project is one the code (or the issue-14 contract) reads.
- ``deploy/helm/playbook``: Chart.yaml and the values files parse, the values
  files for self-hosted Temporal and Temporal Cloud set only keys values.yaml
  has, templates reference only values that exist and close every block they
  open, the parts and probes are there, commands and variables as above.
- ``deploy/systemd``: each unit has its own non-root user and a real entry
  point, the worker is an ``@`` template, and ``systemd-analyze verify``
  accepts them (with the install path pointed at this venv).
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from cli.app import COMMANDS, DATA_COMMANDS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
CHART = DEPLOY / "helm" / "playbook"
SYSTEMD = DEPLOY / "systemd"
INSTALL_VENV = "/opt/playbook/.venv"  # where the systemd units expect the install

# Names the issue-14 contract gives, read by code that other branches bring
# (workers/settings.py tuning and health, temporalio.envconfig for the connection).
CONTRACT_ENV = {
    "TEMPORAL_ADDRESS",  # read by temporalio.envconfig, not spelled out in our code
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_CONFIG_FILE",
    "TEMPORAL_PROFILE",
    "TEMPORAL_API_KEY",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_NAME",
    "PLAYBOOK_MAX_ACTIVITIES",
    "PLAYBOOK_MAX_WORKFLOW_TASKS",
    "PLAYBOOK_STICKY_CACHE",
    "PLAYBOOK_WORKFLOW_POLLERS",
    "PLAYBOOK_ACTIVITY_POLLERS",
    "PLAYBOOK_SHUTDOWN_GRACE_SECONDS",
    "PLAYBOOK_DB_POOL_SIZE",
    "PLAYBOOK_DB_STATEMENT_CACHE",
    "PLAYBOOK_WORKER_HTTP_PORT",
    "PLAYBOOK_SDK_METRICS_PORT",
    "PLAYBOOK_LOG_FORMAT",
}
# Verbs of the contract whose module another branch brings: accepted while the
# module is missing; once it exists the verb must be in cli.app's table.
CONTRACT_VERBS = {"setup": ROOT / "cli" / "setup.py"}


def env_names_read() -> set[str]:
    """Every variable name the project's code spells out (quoted in workers/,
    cli/, engine/; a notify channel's ``env NAME`` in the default model)."""
    names: set[str] = set()
    for folder in ("workers", "cli", "engine"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(re.findall(r"[\"']([A-Z][A-Z0-9_]{2,})[\"']", path.read_text("utf-8")))
    model = (ROOT / "dsl" / "default.model").read_text(encoding="utf-8")
    names |= set(re.findall(r"\benv\s+([A-Z][A-Z0-9_]+)", model))
    return names


KNOWN_ENV = env_names_read() | CONTRACT_ENV


def unknown_env(names: set[str]) -> set[str]:
    """The names nobody reads (OTEL_* go to the OpenTelemetry SDK as they are)."""
    return {n for n in names if n not in KNOWN_ENV and not n.startswith("OTEL_")}


def entry_point_problem(argv: list[str]) -> str | None:
    """Why ``argv`` does not start a real entry point of the project (None if it does):
    ``playbook VERB`` with a verb of cli.app, or ``python -m MODULE`` runnable."""
    if not argv:
        return "empty command"
    program = Path(argv[0]).name
    if program == "playbook":
        scripts = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["scripts"]
        if "playbook" not in scripts:
            return "no `playbook` script in pyproject.toml"
        verb = argv[1] if len(argv) > 1 else ""
        if verb == "data":
            return None if argv[2:3] and argv[2] in DATA_COMMANDS else f"no verb {argv[:3]}"
        if verb in COMMANDS:
            return None
        module = CONTRACT_VERBS.get(verb)
        if module is not None and not module.exists():
            return None  # the branch bringing it is not merged here yet
        return f"`playbook {verb}` is no verb of cli.app.COMMANDS"
    if program.startswith("python") and argv[1:2] == ["-m"] and len(argv) > 2:
        spec = importlib.util.find_spec(argv[2])
        if spec is None or spec.origin is None:
            return f"no module {argv[2]}"
        if spec.submodule_search_locations is not None:
            runnable = importlib.util.find_spec(argv[2] + ".__main__") is not None
        else:
            runnable = '__name__ == "__main__"' in Path(spec.origin).read_text("utf-8")
        return None if runnable else f"{argv[2]} cannot run as python -m"
    return f"{argv[0]} is neither `playbook` nor `python -m`"


# --------------------------------------------------------------------------- Dockerfile


def dockerfile() -> DockerfileParser:
    """The Dockerfile parsed (read from a copy in memory: the parser writes to its file)."""
    return DockerfileParser(fileobj=io.BytesIO(DOCKERFILE.read_bytes()))


def final_stage(parser: DockerfileParser) -> list[dict[str, Any]]:
    """The instructions of the last stage (the image that runs)."""
    instructions = parser.structure
    last_from = max(i for i, ins in enumerate(instructions) if ins["instruction"] == "FROM")
    return instructions[last_from:]


def ignored_by_context(path: str) -> bool:
    """Whether the Dockerfile's .dockerignore (an allow-list: `*` then `!path`)
    keeps ``path`` out of the build context."""
    rules = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    ignored = False
    for rule in (r.strip() for r in rules):
        if not rule or rule.startswith("#"):
            continue
        negated, pattern = rule.startswith("!"), rule.lstrip("!")
        top = path.split("/")[0]
        if pattern == "*" or pattern in (path, top):
            ignored = not negated
    return ignored


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    copies = [ins for ins in dockerfile().structure if ins["instruction"] == "COPY"]
    assert copies
    for ins in copies:
        words = ins["value"].split()
        if any(w.startswith("--from") for w in words):
            continue
        sources = [w for w in words if not w.startswith("--")][:-1]
        assert sources, ins["content"]
        for source in sources:
            # Paths are relative to the build context, the repository root.
            assert list(ROOT.glob(source)), f"COPY {source}: nothing there"
            assert not ignored_by_context(source), f"COPY {source}: left out by .dockerignore"


def test_the_image_is_slim_python_311_and_runs_as_a_user_of_its_own() -> None:
    parser = dockerfile()
    bases = [ins["value"].split()[0] for ins in parser.structure if ins["instruction"] == "FROM"]
    assert bases and all(base == "python:3.11-slim" for base in bases), bases
    users = [ins["value"] for ins in final_stage(parser) if ins["instruction"] == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user, _, group = users[-1].partition(":")
    assert user not in ("root", "0") and group not in ("root", "0"), users[-1]
    created = " ".join(ins["value"] for ins in parser.structure if ins["instruction"] == "RUN")
    assert f"--uid {user}" in created, "the USER is not the one the image creates"


def test_the_image_runs_the_worker_and_checks_its_healthz() -> None:
    stage = final_stage(dockerfile())
    cmd = [ins["value"] for ins in stage if ins["instruction"] == "CMD"]
    assert cmd, "no CMD"
    argv = json.loads(cmd[-1])
    assert entry_point_problem(argv) is None, entry_point_problem(argv)
    assert argv == ["playbook", "worker"]
    env = " ".join(ins["value"] for ins in stage if ins["instruction"] == "ENV")
    assert "PLAYBOOK_WORKER_HTTP_PORT=9464" in env
    assert "PLAYBOOK_DIR=/app/playbooks" in env
    names = set(re.findall(r"\b([A-Z][A-Z0-9_]+)=", env))
    assert unknown_env(names - {"PATH", "PYTHONUNBUFFERED"}) == set()
    check = [ins["value"] for ins in stage if ins["instruction"] == "HEALTHCHECK"]
    assert check and "/healthz" in check[-1] and "PLAYBOOK_WORKER_HTTP_PORT" in check[-1]
    assert "9464" in " ".join(ins["value"] for ins in stage if ins["instruction"] == "EXPOSE")


# --------------------------------------------------------------------------- compose


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def project_services(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services running the project's image."""
    return {
        name: service
        for name, service in spec["services"].items()
        if service.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
    }


def test_compose_is_a_whole_install() -> None:
    spec = compose()
    services = spec["services"]
    # Temporal on its own PostgreSQL, schema first, with its UI.
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    assert services["temporal"]["environment"]["POSTGRES_SEEDS"] == "temporal-db"
    assert services["temporal-db"]["image"].startswith("postgres:")
    schema = services["temporal"]["depends_on"]["temporal-schema"]
    assert schema["condition"] == "service_completed_successfully"
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    # The project's PostgreSQL, the one-shot jobs in order, N workers, the web endpoint.
    assert services["db"]["image"].startswith("postgres:")
    ours = project_services(spec)
    assert set(ours) == {"migrate", "setup", "worker", "web"}
    assert ours["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert ours["setup"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert ours["worker"]["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert ours["migrate"]["restart"] == ours["setup"]["restart"] == "no"
    assert "replicas" in ours["worker"]["deploy"]
    assert "/healthz" in " ".join(ours["web"]["healthcheck"]["test"])
    build = ours["worker"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


def test_compose_commands_are_real_entry_points() -> None:
    commands = {name: s["command"] for name, s in project_services(compose()).items()}
    assert commands["migrate"] == ["python", "-m", "workers.adapters.migrate"]
    assert commands["setup"] == ["playbook", "setup"]
    for name, argv in commands.items():
        assert entry_point_problem(argv) is None, (name, entry_point_problem(argv))


def test_compose_gives_the_project_only_variables_it_reads() -> None:
    spec = compose()
    for name, service in project_services(spec).items():
        environment = service["environment"]
        assert unknown_env(set(environment)) == set(), name
        assert environment["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert environment["DATABASE_URL"].startswith("postgresql://playbook:")
        assert environment["PLAYBOOK_WORKER_HTTP_PORT"] == "9464"
    # playbook.env is made from env.example: every name in it is read too.
    example = (DEPLOY / "env.example").read_text(encoding="utf-8")
    names = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.M))
    assert "DATABASE_URL" in names and unknown_env(names) == set()


# --------------------------------------------------------------------------- Helm


def templates() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in (CHART / "templates").iterdir()}


def value_paths(tree: Any, prefix: str = "") -> Iterator[str]:
    """Every key path of a values tree (``worker.tuning.maxActivities``)."""
    if isinstance(tree, dict):
        for key, child in tree.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            yield from value_paths(child, path)


def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    return loaded


def test_chart_and_values_parse_and_the_examples_set_only_known_keys() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["apiVersion"] == "v2" and chart["name"] == "playbook" and chart["version"]
    known = set(value_paths(values()))
    for example in ("values-self-hosted.yaml", "values-cloud.yaml"):
        given = yaml.safe_load((CHART / example).read_text(encoding="utf-8"))
        assert set(value_paths(given)) <= known, (example, set(value_paths(given)) - known)
    cloud = yaml.safe_load((CHART / "values-cloud.yaml").read_text(encoding="utf-8"))
    assert cloud["temporal"]["tls"] is True and cloud["temporal"]["apiKeySecret"]
    hosted = yaml.safe_load((CHART / "values-self-hosted.yaml").read_text(encoding="utf-8"))
    assert hosted["temporal"]["address"].startswith("temporal-frontend.")
    # The official Temporal chart's values beside it: on PostgreSQL.
    server = yaml.safe_load((DEPLOY / "helm" / "temporal-postgres.yaml").read_text("utf-8"))
    assert server["server"]["config"]["persistence"]["default"]["sql"]["driver"] == "postgres12"


def test_templates_reference_only_values_that_exist_and_close_their_blocks() -> None:
    known = set(value_paths(values()))
    for name, text in templates().items():
        used = set(re.findall(r"\.Values\.([A-Za-z0-9_.]+)", text))
        assert used <= known, (name, used - known)
        actions = re.findall(r"\{\{-?\s*(\w+)", text)
        opened = sum(1 for a in actions if a in ("if", "range", "with", "define"))
        assert opened == actions.count("end"), (
            f"{name}: {opened} blocks, {actions.count('end')} ends"
        )


def test_chart_has_the_parts_probes_and_scrape_annotations() -> None:
    text = templates()
    kinds = {name: re.findall(r"^kind: (\w+)", body, flags=re.M) for name, body in text.items()}
    assert kinds["worker-deployment.yaml"] == ["Deployment"]
    assert kinds["web-deployment.yaml"] == ["Deployment"]
    assert kinds["web-service.yaml"] == ["Service"]
    assert kinds["configmap.yaml"] == ["ConfigMap"] and kinds["secret.yaml"] == ["Secret"]
    assert kinds["setup-job.yaml"] == ["Job"]
    assert "helm.sh/hook: post-install,post-upgrade" in text["setup-job.yaml"]
    for deployment in ("worker-deployment.yaml", "web-deployment.yaml"):
        body = text[deployment]
        assert "httpGet: {path: /healthz, port: http}" in body
        assert "httpGet: {path: /readyz, port: http}" in body
        assert 'prometheus.io/scrape: "true"' in body and "prometheus.io/path: /metrics" in body
    assert "replicas: {{ .Values.worker.replicas }}" in text["worker-deployment.yaml"]


def test_chart_commands_and_variables_are_real() -> None:
    for name, body in templates().items():
        for found in re.findall(r"command: (\[.*\])", body):
            argv = json.loads(found)
            assert entry_point_problem(argv) is None, (name, entry_point_problem(argv))
    config = templates()["configmap.yaml"]
    helpers = templates()["_helpers.tpl"]
    names = set(re.findall(r"^  ([A-Z][A-Z0-9_]+):", config, flags=re.M))
    names |= set(re.findall(r"- name: ([A-Z][A-Z0-9_]+)", helpers))
    assert {"TEMPORAL_ADDRESS", "TEMPORAL_API_KEY", "TEMPORAL_TLS", "DATABASE_URL"} <= names
    assert unknown_env(names) == set()


# --------------------------------------------------------------------------- systemd


def unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values in order]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


UNITS = sorted(SYSTEMD.glob("*.service"))


def test_units_replace_the_old_ones_and_the_worker_is_a_template() -> None:
    assert not list(DEPLOY.glob("*.service")), "units live in deploy/systemd only"
    assert {u.name for u in UNITS} == {
        "playbook-worker@.service",
        "playbook-web.service",
        "playbook-setup.service",
    }
    worker = unit(SYSTEMD / "playbook-worker@.service")["Service"]
    # Each instance its own health/metrics port: 946<instance>.
    assert worker["Environment"].count("PLAYBOOK_WORKER_HTTP_PORT=946%i") == 1


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_each_unit_runs_a_real_entry_point_as_its_own_user(path: Path) -> None:
    service = unit(path)["Service"]
    sysusers = (SYSTEMD / "playbook.sysusers").read_text(encoding="utf-8")
    user = service["User"][-1]
    assert user not in ("root", "0") and re.search(rf"^u {user} ", sysusers, flags=re.M)
    assert service["Group"][-1] == user
    assert service["ExecStart"]
    for command in service["ExecStart"]:
        argv = command.split()
        assert argv[0].startswith(INSTALL_VENV + "/bin/"), argv
        assert entry_point_problem(argv) is None, entry_point_problem(argv)
    names = {value.partition("=")[0] for value in service.get("Environment", [])}
    assert unknown_env(names) == set()
    assert service["EnvironmentFile"] == ["/etc/playbook/env"]


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    # The units as installed, pointed at this venv (verify checks that ExecStart runs).
    for path in UNITS:
        text = path.read_text(encoding="utf-8").replace(INSTALL_VENV, sys.prefix)
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    names = [n.replace("@.service", "@1.service") for n in (u.name for u in UNITS)]
    result = subprocess.run(
        [analyze, "verify", "--man=no", *(f"./{n}" for n in names)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
