"""docker-compose.yml, the Dockerfile and .env.example, checked without a Docker engine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.settings import Settings
from hardware.config import DaemonConfig

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
MICROPOP_NAME = re.compile(r"\bMICROPOP_[A-Z0-9_]+\b")
# Variables of docker-compose.yml itself, not of micropop.
COMPOSE_VARIABLES = {"POSTGRES_PASSWORD", "PUBLIC_HOST", "BOT_REPLICAS"}
# Test-only switches, read by the test suite and never by micropop.
TEST_VARIABLES = {"MICROPOP_TEST_POSTGRES_URL", "MICROPOP_TEST_REDIS_URL"}


def known_variables() -> set[str]:
    names = {f"MICROPOP_{name.upper()}" for name in Settings.model_fields}
    names |= {f"MICROPOP_HW_{name.upper()}" for name in DaemonConfig.model_fields}
    return names


def example_values() -> dict[str, str]:
    """Return every NAME=value of .env.example, including the commented-out ones."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def test_compose_has_every_service(services):
    assert set(services) == {"postgres", "redis", "migrate", "bot", "proxy", "hardware"}


def test_migrations_run_once_before_bot(services):
    assert services["migrate"]["command"] == ["micropop", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["bot"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["bot"]["environment"]["MICROPOP_RUN_MIGRATIONS_ON_START"] == "false"


def test_bot_waits_for_healthy_stores(services):
    depends = services["bot"]["depends_on"]

    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"


def test_bot_runs_several_replicas_in_webhook_mode(services):
    bot = services["bot"]
    replicas = str(bot["deploy"]["replicas"])
    default = re.fullmatch(r"\$\{BOT_REPLICAS:-(\d+)\}", replicas)

    assert default is not None
    assert int(default.group(1)) >= 2
    assert bot["command"] == ["micropop", "run"]
    assert bot["environment"]["MICROPOP_WEBHOOK_URL"].startswith("https://")
    assert bot["environment"]["MICROPOP_REDIS_URL"] == "redis://redis:6379/0"
    assert bot["environment"]["MICROPOP_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "ports" not in bot


def test_bot_healthcheck_requests_healthz(services):
    test = services["bot"]["healthcheck"]["test"]

    assert test[0] == "CMD"
    assert "http://127.0.0.1:8080/healthz" in " ".join(test)


@pytest.mark.parametrize("name", ["postgres", "redis", "bot", "proxy"])
def test_long_running_service_has_healthcheck(services, name):
    healthcheck = services[name]["healthcheck"]

    assert healthcheck["test"]
    assert healthcheck["interval"]


def test_proxy_spreads_webhook_over_replicas(services):
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()

    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in services["proxy"]["volumes"]
    assert services["proxy"]["depends_on"]["bot"]["condition"] == "service_healthy"
    assert "dynamic a bot 8080" in caddyfile
    assert "lb_policy round_robin" in caddyfile


def test_hardware_reaches_host_bluetooth_and_printer(services):
    hardware = services["hardware"]
    bus_address = hardware["environment"]["DBUS_SYSTEM_BUS_ADDRESS"]

    assert hardware["command"] == ["micropop", "hardware"]
    assert hardware["profiles"] == ["venue"]
    assert "/run/dbus:/run/dbus:ro" in hardware["volumes"]
    assert bus_address == "unix:path=/run/dbus/system_bus_socket"
    assert "/dev/usb:/dev/usb" in hardware["volumes"]
    assert "/dev/bus/usb:/dev/bus/usb" in hardware["volumes"]
    assert "c 180:* rmw" in hardware["device_cgroup_rules"]
    assert "c 189:* rmw" in hardware["device_cgroup_rules"]
    assert hardware["environment"]["MICROPOP_HW_STATE_FILE"].startswith("/var/lib/")


def test_hardware_starts_without_host_devices(services):
    # Docker refuses to create a container whose `devices:` node is missing on the host, and
    # a bind-mounted socket file goes stale when D-Bus restarts. Directory mounts do neither.
    hardware = services["hardware"]
    host_sources = [v.split(":", 1)[0] for v in hardware["volumes"] if v.startswith("/")]
    dev_sources = {source for source in host_sources if source.startswith("/dev/")}

    assert "devices" not in hardware
    assert "/run/dbus/system_bus_socket" not in host_sources
    assert dev_sources <= {"/dev/usb", "/dev/bus/usb"}


def test_named_volumes_declared(compose, services):
    used = {
        volume.split(":", 1)[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if not volume.startswith(("/", "./", "${"))
    }

    assert used == set(compose["volumes"])


def test_stateful_services_keep_data_in_volumes(services):
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "redis-data:/data" in services["redis"]["volumes"]
    assert any(v.startswith("hardware-state:") for v in services["hardware"]["volumes"])


def test_image_built_from_dockerfile(services):
    dockerfile = (ROOT / "Dockerfile").read_text()
    built = [name for name, service in services.items() if service.get("build") == "."]

    assert set(built) == {"migrate", "bot", "hardware"}
    assert "pip install ." in dockerfile
    assert 'CMD ["micropop", "run"]' in dockerfile


def test_compose_variables_exist_in_settings():
    referenced = set(MICROPOP_NAME.findall(COMPOSE.read_text()))

    assert referenced - known_variables() == set()


def test_env_example_variables_exist_in_settings():
    listed = {name for name in example_values() if name.startswith("MICROPOP_")}

    assert listed - known_variables() == set()


def test_env_example_lists_every_setting():
    listed = set(example_values())

    assert known_variables() - listed == set(), "add the missing variables to .env.example"


def test_env_example_lists_compose_variables():
    referenced = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE.read_text()))

    assert referenced - set(example_values()) == set()
    assert referenced - known_variables() - TEST_VARIABLES <= COMPOSE_VARIABLES


def test_env_example_values_are_valid(monkeypatch):
    for name in list(known_variables()):
        monkeypatch.delenv(name, raising=False)
    for name, value in example_values().items():
        monkeypatch.setenv(name, value)

    settings = Settings(_env_file=None)
    daemon = DaemonConfig(_env_file=None)

    assert settings.webhook_url == "https://bot.example.org"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert daemon.printer == "file:///dev/usb/lp0"


def test_no_commented_out_services():
    text = COMPOSE.read_text()
    commented_keys = re.findall(
        r"^\s*#\s*(image|build|command|depends_on|environment|ports|volumes|healthcheck):",
        text,
        flags=re.MULTILINE,
    )
    commented_services = re.findall(r"^  #\s*[a-z][a-z0-9_-]*:\s*$", text, flags=re.MULTILINE)

    assert commented_keys == []
    assert commented_services == []
