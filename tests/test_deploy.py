"""The container deployment, checked without Docker (Dockerfile, .dockerignore, compose.yaml, deploy/):
the image installs the pinned runtime requirements only and runs as an unprivileged user; every command
the image and compose run names a module that exists and whose --help works; compose starts PostgreSQL with
a named volume and a health check, the collector and the dashboard once it is healthy, mounts the config
read-only, publishes the dashboard on the host's loopback only and leaves the sign-in-or-anonymous choice
to the user; no password or key is in the repository's files. No network, a few seconds."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from collectors import config

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
SIGNIN = ROOT / "deploy" / "compose.signin.yaml"
FLEET = ROOT / "deploy" / "fleet.compose.toml"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
CONFIG_IN_CONTAINER = "/etc/headroom/fleet.toml"
SERVICES = {"postgres", "collector", "dashboard"}

sys.path.insert(0, str(ROOT / "deploy"))
import healthcheck  # noqa: E402


def instructions(dockerfile: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def exec_form(args: str) -> list[str]:
    """A JSON-array (exec form) argument list; the shell form is not allowed (no shell as PID 1)."""
    assert args.startswith("["), f"not the exec form: {args}"
    value = yaml.safe_load(args)
    assert isinstance(value, list) and all(isinstance(x, str) for x in value)
    return value


def compose(path: Path = COMPOSE) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def mount(volume: str) -> tuple[str, str, str]:
    """(source, target, mode) of a short-syntax volume whose source may be a ${VAR:-default}."""
    rest, _, mode = volume.rpartition(":") if volume.endswith((":ro", ":rw")) else (volume, "", "rw")
    source, _, target = rest.rpartition(":")
    return source, target, mode


def env(service: dict[str, Any]) -> dict[str, Any]:
    e = service.get("environment") or {}
    return e if isinstance(e, dict) else dict(x.partition("=")[::2] for x in e)


# -- the image ---------------------------------------------------------------------------------------
def test_image_installs_the_pinned_runtime_requirements_only():
    ins = instructions()
    assert ins[0] == ("ARG", "BASE=python:3.11-slim") and ins[1] == ("FROM", "${BASE}")
    copies = [a for i, a in ins if i in ("COPY", "ADD")]
    assert "requirements.txt /opt/headroom/requirements.txt" in copies
    steps = [step.strip() for i, a in ins if i == "RUN" for step in a.split("&&")]
    installs = [step.split("pip install", 1)[1].split() for step in steps if "pip install" in step]
    assert installs == [["--no-cache-dir", "-r", "/opt/headroom/requirements.txt"]], installs
    assert not [step for step in steps if re.search(r"\b(apt-get|apt|uv|poetry|pipx|conda)\b", step)]
    assert not [a for i, a in ins if "requirements-dev" in a]
    # Every runtime requirement is pinned, so the image is the one that was tested.
    reqs = [r.split("#")[0].strip() for r in (ROOT / "requirements.txt").read_text().splitlines()]
    assert all("==" in r for r in reqs if r), reqs
    # The build context lets in the runtime code and nothing of tests, the venv, stores or secrets.
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert [x for x in ignore if x and not x.startswith("#")][0] == "*"   # all out, then let in
    allowed = {x[1:] for x in ignore if x.startswith("!")}
    assert {"requirements.txt", "collectors/", "analysis/", "dashboard/", "deploy/healthcheck.py"} <= allowed
    assert not any(a.startswith(("tests", "bench", ".venv", ".env", "requirements-dev", ".ci")) for a in allowed)
    assert {"**/*.db", "**/secrets.toml"} <= set(ignore)


def test_image_runs_as_an_unprivileged_user_with_a_healthcheck():
    ins = instructions()
    users = [a for i, a in ins if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    # Nothing runs as root after the switch but the interpreter's own start (no RUN, no COPY --chown games).
    after = ins[[i for i, _ in ins].index("USER"):]
    assert not [a for i, a in after if i == "RUN"]
    healthchecks = [a for i, a in ins if i == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    opts, _, cmd = healthchecks[0].partition(" CMD ")
    assert "--start-period=" in opts
    assert exec_form(cmd.strip())[:2] == ["python", "/app/deploy/healthcheck.py"]
    assert "9108" in cmd and "--metrics-port" in [a for i, a in ins if i == "CMD"][0]


# -- compose -----------------------------------------------------------------------------------------
def test_compose_services_healthchecks_and_start_order():
    doc = compose()
    services = doc["services"]
    assert set(services) == SERVICES
    pg = services["postgres"]
    assert pg["image"] == "postgres:15"
    assert [mount(v) for v in pg["volumes"]] == [("pgdata", "/var/lib/postgresql/data", "rw")]
    assert "pgdata" in doc["volumes"]
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"]) and "ports" not in pg
    for name in ("collector", "dashboard"):
        s = services[name]
        assert s["depends_on"] == {"postgres": {"condition": "service_healthy"}}, name
        assert s["build"] == "." and s["image"].startswith("headroom:")
        mounts = [mount(v) for v in s["volumes"] if mount(v)[1] == CONFIG_IN_CONTAINER]
        assert [m[2] for m in mounts] == ["ro"], mounts
        assert mounts[0][0] == "${HEADROOM_FLEET_TOML:-./deploy/fleet.compose.toml}"
        assert s["command"][:2] == ["python", "-m"]
        cmd = s["command"]
        assert cmd[cmd.index("--config") + 1] == CONFIG_IN_CONTAINER
        assert s["environment"]["PGPASSWORD"].startswith("${PGPASSWORD:?")
    assert pg["environment"]["POSTGRES_PASSWORD"].startswith("${PGPASSWORD:?")
    # The collector keeps the image's HEALTHCHECK (a cycle finished lately); the dashboard asks Streamlit.
    assert "healthcheck" not in services["collector"]
    assert services["dashboard"]["healthcheck"]["test"][-1] == "http://127.0.0.1:8501/_stcore/health"
    # AWS: ~/.aws read-only for the collector only; the dashboard reads the store, not AWS.
    aws = [mount(v) for v in services["collector"]["volumes"] if mount(v)[1] == "/aws"]
    assert [m[2] for m in aws] == ["ro"], aws
    assert not [v for v in services["dashboard"]["volumes"] if "aws" in v]
    assert not any(k.startswith("AWS_") for k in env(services["dashboard"]))


def test_dashboard_on_host_loopback_and_the_remote_choice_left_to_the_user():
    services = compose()["services"]
    d = services["dashboard"]
    assert d["ports"] and all(p.startswith("127.0.0.1:") for p in d["ports"]), d["ports"]
    assert not any("ports" in s for n, s in services.items() if n != "dashboard")
    cmd = d["command"]
    assert cmd[cmd.index("--server.address") + 1] == "0.0.0.0"
    # Anonymous beyond loopback is off unless the user says so (.env); sign-in is a separate file.
    assert env(d)["HEADROOM_ALLOW_REMOTE"] == "${HEADROOM_ALLOW_REMOTE:-0}"
    assert re.search(r"^HEADROOM_ALLOW_REMOTE=$", ENV_EXAMPLE.read_text(), re.M)
    assert config.load(FLEET).dashboard.allow_anonymous is False
    signin = compose(SIGNIN)["services"]["dashboard"]
    scmd = signin["command"]
    # Streamlit ignores a secrets path that is not a directory and does not end in .toml.
    assert scmd[scmd.index("--secrets.files") + 1] == "/run/secrets/streamlit_secrets.toml"
    assert signin["secrets"] == [{"source": "streamlit_secrets", "target": "streamlit_secrets.toml"}]
    assert [x for x in scmd if x not in ("--secrets.files", "/run/secrets/streamlit_secrets.toml")] == cmd
    assert compose(SIGNIN)["secrets"]["streamlit_secrets"]["file"] == "./deploy/secrets.toml"


def test_the_example_config_uses_the_compose_postgres():
    s = config.load(FLEET)
    assert s.store_url == "postgresql://headroom@postgres:5432/headroom"
    pg = compose()["services"]["postgres"]["environment"]
    assert (pg["POSTGRES_USER"], pg["POSTGRES_DB"]) == ("headroom", "headroom")
    assert s.prometheus.address == "127.0.0.1"   # the healthcheck reads it inside the container


def test_no_secrets_in_the_repository_files():
    files = [DOCKERFILE, ROOT / ".dockerignore", COMPOSE, SIGNIN, FLEET, ENV_EXAMPLE]
    for f in files:
        text = f.read_text()
        assert not re.search(r"postgres(ql)?://[^/@\s:]+:[^@\s]+@", text), f"{f}: a password in a URL"
        assert not re.search(r"AKIA[0-9A-Z]{16}", text), f"{f}: an AWS access key"
        for m in re.finditer(r"(?im)^\s*[\w.]*(password|secret|token|key_id)[\w.]*\s*[:=][ \t]*(\S.*)?$", text):
            value = (m.group(2) or "").split("#")[0].strip().strip("\"'")
            assert value == "" or value.startswith("${"), f"{f}: {m.group(0).strip()}"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert {".env", "deploy/secrets.toml", "deploy/fleet.toml"} <= set(ignored)
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [t for t in tracked if t == ".env" or t.endswith("secrets.toml")]


# -- the commands exist and start ---------------------------------------------------------------------
def commands() -> list[list[str]]:
    """Every command the image and compose run, with --help in place of what it would do."""
    ins = instructions()
    services = compose()["services"]
    cmds = [exec_form([a for i, a in ins if i == "CMD"][0]), services["collector"]["command"],
            services["dashboard"]["command"], compose(SIGNIN)["services"]["dashboard"]["command"]]
    helps = []
    for c in cmds:
        assert c[:2] == ["python", "-m"], c
        module = c[2]
        assert (ROOT / module / "__main__.py").is_file(), module
        sub = [c[3]] if module == "collectors" else []
        helps.append([sys.executable, "-m", module, *sub, "--help"])
    return helps


def test_every_command_names_a_module_whose_help_works():
    cmds = {shlex.join(c): c for c in commands()}      # the same command once
    procs = {k: subprocess.Popen(c, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for k, c in cmds.items()}
    outs = {k: p.communicate(timeout=60)[0] for k, p in procs.items()}
    for k, p in procs.items():
        assert p.returncode == 0, f"{k}: exit {p.returncode}\n{outs[k]}"
    collect = next(o for k, o in outs.items() if "collectors collect" in k)
    assert "--every" in collect and "--metrics-port" in collect
    dash = next(o for k, o in outs.items() if "-m dashboard" in k)
    assert all(opt in dash for opt in ("--server.address", "--server.port", "--secrets.files"))


# -- the health check ---------------------------------------------------------------------------------
def test_healthcheck_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        healthcheck.main(["--help"])
    assert exit_.value.code == 0 and "--max-age" in capsys.readouterr().out


METRICS = "# HELP x\nheadroom_cycles_total 3.0\nheadroom_last_cycle_timestamp_seconds 1.7e+09\n"


@pytest.mark.parametrize(("url", "status", "body", "now", "healthy"), [
    ("http://127.0.0.1:9108/metrics", 200, METRICS, 1.7e9 + 60, True),
    ("http://127.0.0.1:9108/metrics", 200, METRICS, 1.7e9 + 301, False),          # cycles stopped
    ("http://127.0.0.1:9108/metrics", 200, "headroom_cycles_total 0.0\n", 1.7e9, False),   # none finished yet
    ("http://127.0.0.1:8501/_stcore/health", 200, "ok", 0, True),
    ("http://127.0.0.1:8501/_stcore/health", 503, "", 0, False),
])
def test_healthcheck_verdict(url, status, body, now, healthy):
    assert (healthcheck.verdict(url, status, body, now, 300) is None) is healthy
