"""The cached benchmark database of a bench script: built once with the module
installed, upgraded (``-u``) on later runs. Shared by the benchmarks that keep one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import devtool

ROOT = Path(__file__).resolve().parents[1]


def connect(dbname: str):
    import psycopg2  # noqa: PLC0415 - the venv has it

    return psycopg2.connect(
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=os.environ.get("PGPORT", "5432"),
        user=os.environ.get("PGUSER") or devtool.getpass.getuser(),
        password=os.environ.get("PGPASSWORD"),
        dbname=dbname,
    )


def database_state(db: str) -> str:
    """'missing', 'uninstalled' (exists without the module) or 'installed'."""
    conn = devtool._pg_connect()
    with conn.cursor() as cr:
        cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db])
        exists = cr.fetchone()
    conn.close()
    if not exists:
        return "missing"
    conn = connect(db)
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT state FROM ir_module_module WHERE name = %s", [devtool.MODULE])
            row = cr.fetchone()
    except Exception:  # noqa: BLE001 - not an Odoo database
        row = None
    finally:
        conn.close()
    return "installed" if row and row[0] == "installed" else "uninstalled"


def run_odoo(src: Path, db: str, *args: str, fail: Callable[[str], None]) -> float:
    """Run ``odoo-bin -d db <args> --stop-after-init``; its output goes to stderr."""
    start = time.perf_counter()
    cmd = devtool.odoo_command(
        src,
        "-d",
        db,
        *args,
        "--stop-after-init",
        "--log-level=warn",
        "--max-cron-threads=0",
        "--workers=0",
        f"--http-port={devtool.free_port()}",
    )
    result = subprocess.run(
        cmd, env=devtool.odoo_env(src), cwd=ROOT, stdout=sys.stderr, stderr=sys.stderr
    )
    if result.returncode:
        fail(f"odoo-bin {' '.join(args)} exited with {result.returncode}")
    return time.perf_counter() - start


def prepare_database(
    src: Path,
    db: str,
    regenerate: bool,
    *,
    log: Callable[[str], None],
    fail: Callable[[str], None],
) -> tuple[str, float]:
    """('installed' | 'upgraded', seconds): a new database with the module, or the
    cached one upgraded."""
    state = "missing" if regenerate else database_state(db)
    if state != "installed":
        log(f"database {db} is {state}: creating it (-i {devtool.MODULE}, without demo)")
        devtool.drop_database(db)
        return "installed", run_odoo(src, db, "-i", devtool.MODULE, "--without-demo=all", fail=fail)
    log(f"upgrading {devtool.MODULE} in the cached database {db}")
    return "upgraded", run_odoo(src, db, "-u", devtool.MODULE, fail=fail)
