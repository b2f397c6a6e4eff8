"""A throwaway PostgreSQL server for the test session: initdb + pg_ctl in a temporary folder, on
a free loopback port, removed afterwards. Each test asks it for a database of its own."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa


def find_binary(name: str) -> str:
    """On PATH, or where Debian's postgresql package puts it (not on PATH)."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(
            f"{name} not found: install the PostgreSQL server (Debian: apt-get install "
            "postgresql); scripts/test does this when it can"
        )
    return found


def _as_user() -> tuple[list[str], int | None, int | None]:
    """PostgreSQL refuses to run as root: run it as the postgres (else nobody) user then."""
    if os.geteuid() != 0:
        return [], None, None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"], entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root with neither a postgres nor a nobody user")


@dataclass
class Postgres:
    port: int
    folder: Path
    user: str = "kg"
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        name = f"test_{next(self._names)}"
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)


def start_postgres(port: int) -> Postgres:
    prefix, uid, gid = _as_user()
    folder = Path(tempfile.mkdtemp(prefix="kg-postgres-"))
    if uid is not None and gid is not None:
        os.chown(folder, uid, gid)
    data = folder / "data"
    server = Postgres(port=port, folder=folder)
    run = {"check": True, "capture_output": True, "text": True}
    subprocess.run(
        [*prefix, find_binary("initdb"), "-D", str(data), "-U", server.user,
         "--auth=trust", "--encoding=UTF8", "--no-sync"],
        **run,
    )  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    try:
        subprocess.run(
            [*prefix, find_binary("pg_ctl"), "-D", str(data), "-l", str(folder / "log"),
             "-o", options, "-w", "-t", "60", "start"],
            **run,
        )  # fmt: skip
    except subprocess.CalledProcessError as exc:
        log = (folder / "log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}\n{log}") from exc
    return server


def stop_postgres(server: Postgres) -> None:
    prefix, _, _ = _as_user()
    subprocess.run(
        [*prefix, find_binary("pg_ctl"), "-D", str(server.folder / "data"), "-m", "fast", "stop"],
        capture_output=True,
    )
    shutil.rmtree(server.folder, ignore_errors=True)
