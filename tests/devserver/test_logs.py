"""The dev server's log never holds its secrets: tracebacks carry no local variables, and the
database URI, its password and the JWT secret are scrubbed from every line (issue 14)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

from devserver.logs import MASK, scrub, secrets_of

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "Sekr3t/Pass#w0rd"
ENCODED = quote(PASSWORD, safe="")
DB_URI = f"postgresql://postgres:{ENCODED}@127.0.0.1:5432/postgres"
JWT_SECRET = "jwt-secret-" + "x" * 32

FAULT = textwrap.dedent(f"""
    import logging, structlog
    {{configure}}
    def query(dsn):
        password = {PASSWORD!r}  # a frame's locals, as asyncpg's connect has them
        raise ConnectionError("the database restarted")
    try:
        query({DB_URI!r})
    except ConnectionError:
        structlog.get_logger("devserver.rest").exception("unexpected_error", path="/rest/v1/leads")
        logging.getLogger("uvicorn.error").exception("lost %s", {DB_URI!r})
""")


def run_fault(configure: str) -> str:
    script = FAULT.format(configure=configure)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_an_unconfigured_structlog_would_print_the_locals_of_a_failing_frame() -> None:
    """The control: structlog's default rendering (Rich) shows frame locals, password included."""
    output = run_fault("")
    assert "the database restarted" in output
    assert PASSWORD in output


def test_the_servers_logging_prints_the_traceback_without_any_secret() -> None:
    """Configured as `python -m devserver` configures it: the traceback is there, no secret is."""
    output = run_fault(f"from devserver import logs; logs.configure(db_uri={DB_URI!r}, jwt_secret={JWT_SECRET!r})")
    assert "Traceback" in output and "the database restarted" in output
    assert "unexpected_error" in output and "lost" in output
    for secret in (PASSWORD, ENCODED, DB_URI, JWT_SECRET):
        assert secret not in output


def test_secrets_are_the_uri_its_password_as_written_and_decoded_and_the_jwt_secret() -> None:
    """Each form a secret may take in a message is masked."""
    secrets = secrets_of(DB_URI, JWT_SECRET)
    assert scrub(f"uri {DB_URI} pw {PASSWORD} enc {ENCODED} jwt {JWT_SECRET}", secrets) == (
        f"uri {MASK} pw {MASK} enc {MASK} jwt {MASK}")


def test_the_server_entry_point_configures_this_logging() -> None:
    """`python -m devserver` installs the scrubbing configuration before serving."""
    source = (REPO / "devserver" / "__main__.py").read_text()
    assert "logs.configure(" in source and "log_config=None" in source
