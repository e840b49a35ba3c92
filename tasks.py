"""Set up and run micropop from a fresh clone with nothing but Python 3.11.

    python3 tasks.py rehearse [micropop rehearse options]   rehearse a whole night offline
    python3 tasks.py test [pytest options]                  run the test suite

Both create ./.venv on first use and install micropop with its test dependencies into it;
they reinstall when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".micropop-installed"


def ensure_environment() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"micropop needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"Creating the virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    print("Installing micropop and its test dependencies", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True, cwd=ROOT)
    STAMP.write_text(wanted)


def main(arguments: list[str]) -> int:
    if not arguments or arguments[0] not in {"rehearse", "test"}:
        print(__doc__)
        return 2
    ensure_environment()
    command, rest = arguments[0], arguments[1:]
    if command == "rehearse":
        runner = [str(VENV / "bin" / "micropop"), "rehearse", *rest]
    else:
        runner = [str(PYTHON), "-m", "pytest", *rest]
    return subprocess.run(runner, cwd=ROOT, env=os.environ.copy()).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
