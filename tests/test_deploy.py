"""The server deployment (issue 16 point 4): deploy/setup-debian.sh run on this machine, on
loopback only, then each door tried for real: the browser door through nginx and TLS, the
technicians' SSH forced command against a local sshd, and the nightly job as its unit runs it.

It needs root (accounts, /etc, packages), as CI runs it (`.ci/run`). Run by anyone else the
script must refuse at once, changing nothing: that is what this test checks then. systemd is
not running in CI's container: the script's --no-start installs the units, and the test starts
each unit's ExecStart itself, as its User= with its EnvironmentFile= (docs/deployment.md).
"""

from __future__ import annotations

import base64
import http.client
import os
import pty
import re
import select
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

from cellbatch.domain.nightly import NightlyResult
from tests.conftest import REPO

SCRIPT = REPO / "deploy" / "setup-debian.sh"
ROOT = os.geteuid() == 0
ADMIN_PASSWORD = "deploy-admin-pass-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unit(name: str) -> dict[str, str]:
    """The [Service] settings of an installed unit."""
    settings = {}
    for line in Path(f"/etc/systemd/system/{name}").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            settings[key.strip()] = value.strip()
    return settings


def as_unit(name: str, **popen) -> subprocess.Popen:
    """Start a unit's ExecStart as systemd would: its User=, its EnvironmentFile=."""
    settings = unit(name)
    command = (
        f"set -a; . {settings['EnvironmentFile']}; set +a; umask 077; exec {settings['ExecStart']}"
    )
    return subprocess.Popen(
        ["runuser", "-u", settings["User"], "--", "env", "-i", "PATH=/usr/bin:/bin",
         "/bin/sh", "-c", command],
        start_new_session=True,
        **popen,
    )  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    """End a process this test started, and its children (its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


def ssh_terminal(port: int, key: Path, user: str, *command: str) -> bytes:
    """What an SSH session on a terminal shows (a pty, as a technician's terminal is)."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        args = ["ssh", "-tt", "-i", str(key), "-p", str(port), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                f"{user}@127.0.0.1", *command]  # fmt: skip
        os.execvpe("ssh", args, {"PATH": os.environ["PATH"], "TERM": "xterm-256color"})
    seen = b""
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            seen += data
            if b"User ID" in seen and b"Password" in seen:
                break
        os.write(fd, b"\x11")  # Ctrl+Q: quit the UI, which ends the session
        time.sleep(0.5)
    finally:
        os.close(fd)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    return seen


def websocket_status(port: int, origin: str, context: ssl.SSLContext) -> int:
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    connection.request(
        "GET", "/ws",
        headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Origin": origin,
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        },
    )  # fmt: skip
    status = connection.getresponse().status
    connection.close()
    return status


def test_debian_deployment(tmp_path) -> None:
    syntax = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    if not ROOT:
        refused = subprocess.run([str(SCRIPT)], capture_output=True, text=True)
        assert refused.returncode == 1 and "must be run as root" in refused.stderr
        return
    key = tmp_path / "technician"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    https_port, serve_port, ssh_port = free_port(), free_port(), free_port()
    setup = subprocess.run(
        [str(SCRIPT), "--no-start", "--server-name", "localhost",
         "--https-listen", f"127.0.0.1:{https_port}", "--serve-port", str(serve_port),
         "--admin", "admin", "--admin-name", "Ada Admin",
         "--terminal-user", "cbtech", "--terminal-key", f"{key}.pub"],
        input=f"{ADMIN_PASSWORD}\n", capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert setup.returncode == 0, setup.stderr

    # the service account owns the records, no one else reads them
    database = Path("/var/lib/cellbatch/cellbatch.db")
    assert database.owner() == "cellbatch" and database.stat().st_mode & 0o777 == 0o600
    assert Path("/var/lib/cellbatch").stat().st_mode & 0o777 == 0o700
    settings = Path("/etc/cellbatch/cellbatch.env")
    assert (settings.owner(), settings.group()) == ("root", "cellbatch")
    assert settings.stat().st_mode & 0o777 == 0o640
    assert Path("/etc/sudoers.d/cellbatch").stat().st_mode & 0o777 == 0o440

    # the site key (made by init as the service account) is its alone
    site_key = Path("/var/lib/cellbatch/cellbatch.key")
    assert site_key.owner() == "cellbatch" and site_key.stat().st_mode & 0o777 == 0o600
    anchor = as_unit("cellbatch-anchor.service")
    assert anchor.wait(60) == 0
    anchors = Path("/var/lib/cellbatch/cellbatch.anchors")
    assert anchors.owner() == "cellbatch" and anchors.read_text().strip()

    # the nightly job, as its unit runs it: audit verify, backup, the result for QA
    nightly = as_unit("cellbatch-nightly.service")
    assert nightly.wait(120) == 0
    result = NightlyResult.from_json(Path("/var/lib/cellbatch/nightly.json").read_bytes())
    assert result.ok, result
    backup = Path(result.backup_file)
    assert backup.owner() == "cellbatch" and backup.stat().st_mode & 0o777 == 0o600

    # the browser door behind nginx with TLS, the certificate checked
    serve = as_unit("cellbatch-serve.service", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    nginx = subprocess.Popen(
        ["nginx", "-g", "daemon off;"],
        start_new_session=True, stderr=subprocess.PIPE,
    )  # fmt: skip
    sshd = None
    try:
        wait_for_port(serve_port)
        wait_for_port(https_port)
        context = ssl.create_default_context(cafile="/etc/cellbatch/tls/cellbatch.crt")
        connection = http.client.HTTPSConnection("127.0.0.1", https_port, context=context)
        connection.request("GET", "/")
        answer = connection.getresponse()
        page = answer.read().decode()
        assert answer.status == 200 and "<title>cellbatch</title>" in page
        assert answer.getheader("Strict-Transport-Security")
        connection.close()
        plain = http.client.HTTPConnection("127.0.0.1", https_port, timeout=10)
        plain.request("GET", "/")
        assert plain.getresponse().status == 400  # plain HTTP on the TLS port: refused
        plain.close()
        # a session through the proxy: the page's own origin opens one, another site cannot
        assert websocket_status(https_port, f"https://127.0.0.1:{https_port}", context) == 101
        assert websocket_status(https_port, "https://evil.example", context) == 403

        # technicians: SSH on loopback reaches the terminal UI and nothing else
        Path("/run/sshd").mkdir(exist_ok=True)
        sshd = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-p", str(ssh_port), "-o", "ListenAddress=127.0.0.1"],
            start_new_session=True, stderr=subprocess.PIPE,
        )  # fmt: skip
        wait_for_port(ssh_port)
        shown = ssh_terminal(ssh_port, key, "cbtech", "id; cat /etc/cellbatch/cellbatch.env")
        text = re.sub(rb"\x1b\[[0-9;?<>=]*[A-Za-z]", b"", shown)
        assert b"User ID" in text and b"Password" in text, text[-500:]
        assert b"uid=" not in text and b"CELLBATCH_DATABASE_URL" not in text
        forward = subprocess.run(
            ["ssh", "-i", str(key), "-p", str(ssh_port), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "ExitOnForwardFailure=yes", "-N", "-R", f"127.0.0.1:0:127.0.0.1:{serve_port}",
             "cbtech@127.0.0.1"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert forward.returncode != 0 and "forwarding failed" in forward.stderr, forward.stderr
        sftp = subprocess.run(
            ["sftp", "-i", str(key), "-P", str(ssh_port), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "cbtech@127.0.0.1"],
            input="ls /\n", capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert sftp.returncode != 0
        piped = subprocess.run(
            ["ssh", "-T", "-i", str(key), "-p", str(ssh_port), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "cbtech@127.0.0.1", "id"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert piped.returncode == 1 and "terminal UI only" in piped.stderr
        assert "uid=" not in piped.stdout
    finally:
        for process in (sshd, nginx, serve):
            if process is not None:
                stop(process)

    # running it again changes nothing that is right: the records are kept
    again = subprocess.run(
        [str(SCRIPT), "--no-start", "--server-name", "localhost",
         "--https-listen", f"127.0.0.1:{https_port}", "--serve-port", str(serve_port)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert database.stat().st_size > 0 and backup.exists()
    other = subprocess.run(
        [str(SCRIPT), "--no-start", "--backend", "postgresql"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert other.returncode == 1 and "set up for sqlite" in other.stderr, other.stderr
