"""Set up and run micropop from a fresh clone with nothing but Python 3.11.

    python3 tasks.py rehearse [micropop rehearse options]   rehearse a whole night offline
    python3 tasks.py test [pytest options]                  run the test suite

Both create ./.venv on first use and install micropop into it, `test` with its test
dependencies as well. They reinstall when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".micropop-installed"


def ensure_environment(with_tests: bool) -> None:
    """Create .venv and install micropop, with the test extras when `with_tests` is set.

    The stamp file stores the pyproject.toml hash and whether the test extras are in, so a
    `rehearse` on a fresh clone skips installing the test dependencies it does not use.
    """
    if sys.version_info < (3, 11):
        sys.exit(f"micropop needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"Creating the virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    installed = STAMP.read_text().split() if STAMP.exists() else []
    if installed[:1] == [digest] and (not with_tests or "test" in installed):
        return
    target = f"{ROOT}[test]" if with_tests else str(ROOT)
    packages = "micropop and its test dependencies" if with_tests else "micropop"
    print(f"Installing {packages}", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", target], check=True, cwd=ROOT)
    STAMP.write_text(f"{digest} test" if with_tests else digest)


def main(arguments: list[str]) -> int:
    if not arguments or arguments[0] not in {"rehearse", "test"}:
        print(__doc__)
        return 2
    command, rest = arguments[0], arguments[1:]
    ensure_environment(with_tests=command == "test")
    if command == "rehearse":
        runner = [str(VENV / "bin" / "micropop"), "rehearse", *rest]
    else:
        runner = [str(PYTHON), "-m", "pytest", *rest]
    child = subprocess.Popen(runner, cwd=ROOT, env=os.environ.copy())
    # Ctrl-C reaches the child too, and it stops and reports on its own, so this process only
    # waits for it and passes its exit status on.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
