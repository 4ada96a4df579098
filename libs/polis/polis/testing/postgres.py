"""A throwaway PostgreSQL cluster for tests: initdb into a temp dir, one port, trust auth on 127.0.0.1."""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from types import TracebackType

from polis.testing.ports import free_port

# Test-only data: durability settings off make the cluster several times faster; nothing here must survive.
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "32MB",
}


class PostgresUnavailable(RuntimeError):
    """PostgreSQL binaries are missing or the cluster would not start."""


def find_bin_dir() -> Path:
    """POLIS_PG_BIN, else the newest /usr/lib/postgresql/<n>/bin, else pg_ctl on PATH."""
    explicit = os.environ.get("POLIS_PG_BIN")
    candidates = [explicit] if explicit else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(os.path.dirname(on_path))
    for candidate in candidates:
        if os.access(os.path.join(candidate, "initdb"), os.X_OK):
            return Path(candidate)
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found (looked in POLIS_PG_BIN, /usr/lib/postgresql/*/bin and PATH); "
        "install postgresql (Debian: apt-get install postgresql) to run the PostgreSQL tests"
    )


def _version_key(path: str) -> int:
    try:
        return int(Path(path).parent.name)
    except ValueError:
        return 0


class PostgresCluster:
    """initdb + pg_ctl start on a free port; create_database() hands out fresh databases by URL."""

    def __init__(self, parent_dir: str | None = None) -> None:
        self.bin_dir = find_bin_dir()
        # Not under pytest's tmp dirs: their root-only parents would stop the postgres user from entering.
        self.base_dir = Path(tempfile.mkdtemp(prefix="polis-pg-", dir=parent_dir))
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "socket"
        self.port = free_port()
        self._started = False
        # PostgreSQL refuses to run as root; as root, run it as the postgres user.
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        atexit.register(self._atexit)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self._as_user, *args], capture_output=True, text=True, check=False, timeout=120
        )
        if result.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def start(self) -> PostgresCluster:
        if self._started:
            return self
        self.socket_dir.mkdir(exist_ok=True)
        if self._as_user:
            shutil.chown(self.base_dir, "postgres", "postgres")
            shutil.chown(self.socket_dir, "postgres", "postgres")
        if not self.data_dir.exists():
            self._run(
                str(self.bin_dir / "initdb"),
                "-D", str(self.data_dir),
                "-U", "postgres",
                "-A", "trust",
                "-E", "UTF8",
                "--locale=C",
                "--no-sync",
            )  # fmt: skip
            settings = dict(_SETTINGS, port=str(self.port), unix_socket_directories=f"'{self.socket_dir}'")
            with open(self.data_dir / "postgresql.conf", "a") as conf:
                conf.write("\n# polis.testing\n")
                conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D", str(self.data_dir),
            "-l", str(self.base_dir / "server.log"),
            "-w", "-t", "60",
            "start",
        )  # fmt: skip
        self._started = True
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg  # only the PostgreSQL tests need the driver

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(sql)

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        if not name.replace("_", "").isalnum():
            raise ValueError(f"unsafe database name {name!r}")
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        # FORCE ends the sessions a test left open (pooled connections), so cleanup never hangs.
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._started:
            subprocess.run(
                [
                    *self._as_user,
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
                capture_output=True,
                check=False,
                timeout=60,
            )
            self._started = False

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def _atexit(self) -> None:
        if self._started:
            self.stop()

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()
