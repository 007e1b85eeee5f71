#!/usr/bin/env python3
"""Developer commands behind `make test` and `make demo`.

    devtool.py test [engine|odoo]   run the engine suite and the Odoo suite (fresh database)
    devtool.py demo    create a fresh demo database and serve Odoo on 127.0.0.1:8069
    devtool.py bench [NAME]         run the benchmarks (bench/NAME.py), one JSON line each
    devtool.py odoo    print where Odoo 18 was found

Odoo 18 is looked for, in this order: an `odoo` package the machine's python3 can import;
ODOO_SRC (an Odoo 18 source tree: a folder with odoo/ and odoo-bin, or a git checkout);
otherwise the official 18.0 branch is cloned into .build/odoo (this needs internet).
PostgreSQL comes from the PG* variables (PGHOST, PGPORT, PGUSER, PGPASSWORD), by default
127.0.0.1:5432 as the current user; Odoo refuses the `postgres` role.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".build"
MODULE = "marketing_trigger"
ODOO_GIT = "https://github.com/odoo/odoo.git"
HOW_TO_PROVIDE = f"""\
Odoo 18 was not found. Provide it in one of these ways:
  * put an Odoo 18 source tree on python3's path (e.g. its folder in a .pth file in
    site-packages; python3 only needs to locate `odoo`, its requirements come from .venv), or
  * export ODOO_SRC=/path/to/odoo-18.0 (a folder holding odoo/ and odoo-bin), or
  * give this machine internet access: the 18.0 branch is then cloned from {ODOO_GIT}.
"""


class SetupError(RuntimeError):
    pass


# ---------------------------------------------------------------------- locating Odoo


def _is_odoo18(src: Path) -> bool:
    release = src / "odoo" / "release.py"
    return release.is_file() and "version_info = (18, 0" in release.read_text()


def find_odoo() -> Path:
    probe = subprocess.run(
        [
            "python3",
            "-c",
            # find_spec locates the package without importing it: the machine's python3
            # need not have Odoo's requirements (they live in the virtualenv).
            "import importlib.util, os; s = importlib.util.find_spec('odoo'); "
            "print(os.path.dirname(os.path.dirname(s.origin)))",
        ],
        capture_output=True,
        text=True,
        cwd="/",
    )
    if probe.returncode == 0 and _is_odoo18(Path(probe.stdout.strip())):
        return Path(probe.stdout.strip())
    if os.environ.get("ODOO_SRC"):
        src = Path(os.environ["ODOO_SRC"]).expanduser().resolve()
        if _is_odoo18(src):
            return src
        raise SetupError(f"ODOO_SRC={src} is not an Odoo 18 source tree.\n{HOW_TO_PROVIDE}")
    clone = BUILD / "odoo"
    if _is_odoo18(clone):
        return clone
    print(f"Odoo 18 not found locally; cloning the 18.0 branch from {ODOO_GIT} ...", flush=True)
    result = subprocess.run(
        ["git", "clone", "--depth", "1", "--branch", "18.0", ODOO_GIT, str(clone)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not _is_odoo18(clone):
        shutil.rmtree(clone, ignore_errors=True)
        raise SetupError(f"{result.stderr.strip()}\n\n{HOW_TO_PROVIDE}")
    return clone


def addons_path(src: Path) -> str:
    link_dir = BUILD / "addons"
    link_dir.mkdir(parents=True, exist_ok=True)
    link = link_dir / MODULE
    if link.is_symlink() and link.resolve() != ROOT:
        link.unlink()
    if not link.exists():
        link.symlink_to(ROOT, target_is_directory=True)
    paths = [src / "odoo" / "addons", src / "addons", link_dir]
    return ",".join(str(p) for p in paths if p.is_dir())


# ------------------------------------------------------------------------ PostgreSQL


def pg_options() -> list[str]:
    user = os.environ.get("PGUSER") or getpass.getuser()
    if user == "postgres":
        raise SetupError(
            "Odoo refuses to run as the PostgreSQL role 'postgres': set PGUSER to another "
            "role (e.g. `createuser -s $USER`)."
        )
    options = [
        f"--db_host={os.environ.get('PGHOST', '127.0.0.1')}",
        f"--db_port={os.environ.get('PGPORT', '5432')}",
        f"--db_user={user}",
    ]
    if os.environ.get("PGPASSWORD"):
        options.append(f"--db_password={os.environ['PGPASSWORD']}")
    return options


def _pg_connect():
    import psycopg2  # noqa: PLC0415 - only in the venv that has it

    conn = psycopg2.connect(
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=os.environ.get("PGPORT", "5432"),
        user=os.environ.get("PGUSER") or getpass.getuser(),
        password=os.environ.get("PGPASSWORD"),
        dbname="postgres",
    )
    conn.autocommit = True
    return conn


def drop_database(name: str) -> None:
    conn = _pg_connect()
    with conn.cursor() as cr:
        cr.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()
    shutil.rmtree(Path.home() / ".local/share/Odoo/filestore" / name, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def odoo_command(src: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        str(src / "odoo-bin"),
        f"--addons-path={addons_path(src)}",
        *pg_options(),
        *args,
    ]


def odoo_env(src: Path) -> dict[str, str]:
    env = dict(os.environ, TZ="UTC")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    return env


# ----------------------------------------------------------------------------- tests


def run_engine_suite() -> tuple[int, int]:
    report = BUILD / "engine-junit.xml"
    report.parent.mkdir(parents=True, exist_ok=True)
    print("== engine: unit, doctest and property tests (pytest)", flush=True)
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", f"--junitxml={report}"], cwd=ROOT, check=False
    )
    if not report.exists():
        return 0, 1
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    total = int(suite.get("tests", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    return total - failed - skipped, failed


REPORT_RE = re.compile(r"(\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database")
LOG_LEVEL_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (ERROR|CRITICAL) ")


def run_odoo_suite() -> tuple[int, int]:
    print("== odoo: install marketing_trigger in a fresh database and run its tests", flush=True)
    src = find_odoo()
    print(f"   Odoo 18 from {src}", flush=True)
    db = f"mt_test_{time.strftime('%Y%m%d%H%M%S')}_{os.getpid()}"
    log_path = BUILD / "odoo-test.log"
    cmd = odoo_command(
        src,
        "-d",
        db,
        "-i",
        MODULE,
        "--test-enable",
        # ODOO_TEST_TAGS narrows the run while working, e.g. "/marketing_trigger:TestConsent".
        f"--test-tags={os.environ.get('ODOO_TEST_TAGS') or '/' + MODULE}",
        "--stop-after-init",
        f"--http-port={free_port()}",
        "--log-level=test",
        "--max-cron-threads=0",
        "--workers=0",
    )
    errors_outside_report = 0
    report = None
    try:
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                cmd,
                env=odoo_env(src),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=ROOT,
            )
            for line in proc.stdout:
                log.write(line)
                if match := REPORT_RE.search(line):
                    report = tuple(int(g) for g in match.groups())
                elif LOG_LEVEL_RE.match(line) or " FAIL: " in line or " ERROR: " in line:
                    errors_outside_report += 1
                if (
                    LOG_LEVEL_RE.match(line)
                    or "Ran " in line
                    or REPORT_RE.search(line)
                    or " FAIL: " in line
                    or "Starting " in line
                    and ".test_" in line
                ):
                    print("   " + line.rstrip()[:400], flush=True)
            returncode = proc.wait()
    finally:
        drop_database(db)
    print(f"   full log: {log_path}", flush=True)
    if report is None:
        print("   no test report: the module did not install or Odoo did not start", flush=True)
        return 0, 1
    failures, errors, total = report
    failed = failures + errors
    if not failed and (returncode != 0 or errors_outside_report):
        # An error logged outside any test (e.g. while installing) fails the run too.
        failed = 1
    return total - failures - errors, failed


def cmd_test(only: str | None = None) -> int:
    suites = {"engine": run_engine_suite, "odoo": run_odoo_suite}
    passed = failed = 0
    for name, suite in suites.items():
        if only and name != only:
            continue
        try:
            p, f = suite()
        except SetupError as exc:
            print(exc, file=sys.stderr, flush=True)
            p, f = 0, 1
        passed, failed = passed + p, failed + f
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed or not passed else 0


# ------------------------------------------------------------------------------ demo


def cmd_demo() -> int:
    src = find_odoo()
    db = os.environ.get("DEMO_DB", "marketing_trigger_demo")
    port = os.environ.get("DEMO_PORT", "8069")
    print(f"Creating a fresh demo database '{db}' (Odoo 18 from {src}) ...", flush=True)
    drop_database(db)
    # The demo's emails go to a local sink that accepts and drops them (no real mail).
    smtp_port = free_port()
    subprocess.Popen(
        [sys.executable, "-W", "ignore", str(ROOT / "tools" / "demo_smtp_sink.py"), str(smtp_port)]
    )
    smtp = ["--smtp=127.0.0.1", f"--smtp-port={smtp_port}"]
    subprocess.run(
        odoo_command(src, "-d", db, "-i", MODULE, "--stop-after-init", "--log-level=warn", *smtp),
        env=odoo_env(src),
        check=True,
        cwd=ROOT,
    )
    # The story: four weeks of marketing lived by the real code (demo database only).
    story = ROOT / "tools" / "demo_story.py"
    subprocess.run(
        [
            sys.executable,
            str(src / "odoo-bin"),
            "shell",
            f"--addons-path={addons_path(src)}",
            *pg_options(),
            "-d",
            db,
            "--no-http",
            "--log-level=warn",
            *smtp,
        ],
        input=(
            "import runpy\n"
            f"runpy.run_path({str(story)!r}, init_globals={{'env': env}})['tell'](env)\n"
            "env.cr.commit()\n"
        ),
        text=True,
        env=odoo_env(src),
        check=True,
        cwd=ROOT,
    )
    print(
        f"\nOdoo is starting on http://127.0.0.1:{port}  (database {db})\n"
        "Log in with  admin / admin . Stop with Ctrl+C.\n",
        flush=True,
    )
    os.execve(
        sys.executable,
        odoo_command(
            src,
            "-d",
            db,
            f"--http-port={port}",
            "--http-interface=127.0.0.1",
            f"--db-filter=^{db}$",
            *smtp,
        ),
        odoo_env(src),
    )


def cmd_bench(only: str | None) -> int:
    names = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if not p.stem.startswith("_"))
    if only:
        if only not in names:
            print(f"unknown benchmark {only!r}; known: {', '.join(names)}", file=sys.stderr)
            return 2
        names = [only]
    status = 0
    for name in names:
        # Each benchmark runs in its own process, so peak memory is its own.
        status |= subprocess.run(
            [sys.executable, str(ROOT / "bench" / f"{name}.py")], cwd=ROOT
        ).returncode
    return status


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "test"
    try:
        if command == "test":
            return cmd_test(argv[2] if len(argv) > 2 else None)
        if command == "demo":
            return cmd_demo()
        if command == "bench":
            return cmd_bench(argv[2] if len(argv) > 2 and argv[2] else None)
        if command == "odoo":
            print(find_odoo())
            return 0
    except SetupError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
