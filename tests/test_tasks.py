"""tasks.py: which dependencies a fresh clone installs for `rehearse` and for `test`."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, list[list[str]]]:
    """Load tasks.py with its venv under tmp_path and pip calls recorded, not run."""
    spec = importlib.util.spec_from_file_location("micropop_tasks", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    monkeypatch.setattr(module, "VENV", venv)
    monkeypatch.setattr(module, "PYTHON", venv / "bin" / "python")
    monkeypatch.setattr(module, "STAMP", venv / ".micropop-installed")

    calls: list[list[str]] = []

    def record(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(module.subprocess, "run", record)
    return module, calls


def installed_targets(calls: list[list[str]]) -> list[str]:
    return [command[-1] for command in calls if "-e" in command]


def digest() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def test_rehearse_skips_test_extras(tasks) -> None:
    module, calls = tasks
    module.ensure_environment(with_tests=False)
    assert installed_targets(calls) == [str(ROOT)]


def test_test_installs_test_extras(tasks) -> None:
    module, calls = tasks
    module.ensure_environment(with_tests=False)
    module.ensure_environment(with_tests=True)
    assert installed_targets(calls) == [str(ROOT), f"{ROOT}[test]"]


def test_full_install_serves_rehearse(tasks) -> None:
    module, calls = tasks
    module.ensure_environment(with_tests=True)
    module.ensure_environment(with_tests=False)
    module.ensure_environment(with_tests=True)
    assert installed_targets(calls) == [f"{ROOT}[test]"]


def test_changed_pyproject_reinstalls(tasks) -> None:
    module, calls = tasks
    module.STAMP.write_text("0" * 64 + " test")
    module.ensure_environment(with_tests=False)
    assert installed_targets(calls) == [str(ROOT)]
    assert module.STAMP.read_text() == digest()
