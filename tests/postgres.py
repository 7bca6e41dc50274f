"""A throwaway PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` in a temporary
folder, listening on loopback only, trusted local logins, removed afterwards.

Debian's ``postgresql`` package (installed by ``.ci/run``) puts the programs in
``/usr/lib/postgresql/<version>/bin``. ``initdb`` and ``pg_ctl`` refuse to run as root
(CI runs as root), so they run as the ``postgres`` user the package creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator


def _program(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                      key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return versions[-1] if versions else None


def unavailable() -> str | None:
    """Why no server can be started here (None: it can)."""
    for module in ("sqlalchemy", "psycopg"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install eicodec[postgres])"
    if not (_program("initdb") and _program("pg_ctl")):
        return "PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does it)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run initdb as"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server() -> Iterator[str]:
    """Start a server; yields its URL (``postgresql://postgres@127.0.0.1:PORT/postgres``)."""
    initdb, pg_ctl = _program("initdb"), _program("pg_ctl")
    assert initdb and pg_ctl
    folder = tempfile.mkdtemp(prefix="eicodec-pg-")  # in /tmp: the postgres user can reach it
    as_user: list[str] = []
    user = pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(folder, pg.pw_uid, pg.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else []
        user = "postgres"
        if not as_user:
            raise RuntimeError("running as root without runuser: cannot start PostgreSQL as postgres")
    data, port = os.path.join(folder, "data"), _free_port()
    out = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "cwd": folder}
    subprocess.run([*as_user, initdb, "-D", data, "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync"],
                   check=True, **out)
    options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c max_connections=60"
    subprocess.run([*as_user, pg_ctl, "-D", data, "-o", options, "-l", os.path.join(folder, "log"),
                    "-w", "-t", "60", "start"], check=True, **out)
    try:
        url = f"postgresql://{user}@127.0.0.1:{port}/postgres"
        _wait(url)
        yield url
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def _wait(url: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        for _ in range(100):
            try:
                with engine.connect():
                    return
            except sqlalchemy.exc.OperationalError:
                time.sleep(0.1)
        raise RuntimeError("PostgreSQL did not accept connections")
    finally:
        engine.dispose()
