"""A private PostgreSQL cluster in a temporary directory, for tests that stop and start it.

The machine's shared server must never be restarted by a test, so fault tests that take the
database away run their own cluster: Debian's PostgreSQL 15 binaries, run as the postgres
user through runuser, on a free loopback port with trust authentication.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")
RUNUSER = "/usr/sbin/runuser"
SYSTEM_USER = "postgres"


def missing_parts() -> str | None:
    """Say what this machine lacks to run a private cluster, or None when it has everything."""
    for tool in (BIN / "initdb", BIN / "pg_ctl", Path(RUNUSER)):
        if not tool.exists():
            return f"{tool} not found (install Debian's postgresql-15 package)"
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        return f"system user {SYSTEM_USER!r} not found"
    if os.geteuid() != 0:
        return "runuser needs root to start PostgreSQL as the postgres user"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateCluster:
    """initdb, start, stop and remove one throw-away cluster listening on 127.0.0.1 only."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="micropop-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        account = pwd.getpwnam(SYSTEM_USER)
        os.chown(self.root, account.pw_uid, account.pw_gid)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self._run(BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, *command: object) -> None:
        arguments = [RUNUSER, "-u", SYSTEM_USER, "--", *map(str, command)]
        result = subprocess.run(arguments, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(arguments)} failed with exit code {result.returncode}: "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
