"""The startup script: shellcheck-clean, no secret, arms self-delete and the max TTL; and its
self-delete really deletes the instance through the Compute API (real curl against a local
metadata server and the Compute fake), never on a reboot, never with the token on a command
line."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cmlinfra.clouds.gcp import startup
from cmlinfra.errors import UsageError
from tests.fixtures.gcp import GcpApi

ZONE, NAME, TOKEN = "us-west1-b", "cml-t1", "fake-token-selfdelete"


@pytest.fixture
def metadata() -> Iterator[str]:
    """The instance metadata server, as the guest sees it (only with Metadata-Flavor)."""
    answers = {
        "/computeMetadata/v1/project/project-id": "cml-test",
        "/computeMetadata/v1/instance/zone": f"projects/4242/zones/{ZONE}",
        "/computeMetadata/v1/instance/name": NAME,
        "/computeMetadata/v1/instance/service-accounts/default/token": json.dumps(
            {"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"}
        ),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = answers.get(self.path)
            ok = body is not None and self.headers.get("Metadata-Flavor") == "Google"
            data = (body if ok else "not found").encode()
            self.send_response(200 if ok else 404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()  # fmt: skip
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/computeMetadata/v1"
    finally:
        server.shutdown()
        server.server_close()


def shims(bin_dir: Path, log: Path, jobs: str = "") -> None:
    """systemctl/shutdown recorders (nothing here may be powered off), and a curl wrapper that
    records its arguments before running the real curl."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    real_curl = shutil.which("curl")
    scripts = {
        "systemctl": f'echo "systemctl $*" >>{log}\n[[ "$1" == list-jobs ]] && printf %s "{jobs}"\n'
        "exit 0\n",
        "shutdown": f'echo "shutdown $*" >>{log}\n',
        "curl": f'echo "curl $*" >>{log}\nexec {real_curl} "$@"\n',
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/bash\n{body}")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


def render() -> str:
    return startup.render(NAME, 7200, "2026-12-05T12:00:00Z", ssh_port=2222)


def test_script_is_shellcheck_clean_and_carries_no_secret(tmp_path: Path) -> None:
    script = tmp_path / "startup.sh"
    script.write_text(render())
    result = subprocess.run(["shellcheck", "-s", "bash", str(script)], capture_output=True,
                            text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout
    text = script.read_text()
    assert "Bearer %s" in text and "token" in text  # fetched at run time, not carried
    assert "shutdown -P +120" in text and "Port %s" in text


def test_max_ttl_bounds() -> None:
    with pytest.raises(UsageError, match="at least 10m"):
        startup.max_ttl(60)
    with pytest.raises(UsageError, match="120-day"):
        startup.max_ttl(200 * 86400)
    assert startup.max_ttl(None) == 86400


def run(script: Path, root: Path, bin_dir: Path, env: dict[str, str], *args: str) -> int:
    full = {"PATH": f"{bin_dir}:/usr/bin:/bin", "CMLINFRA_ROOT": str(root), **env}
    return subprocess.run(["bash", str(script), *args], env=full, capture_output=True, text=True,
                          timeout=60, check=False).returncode  # fmt: skip


def test_startup_arms_self_delete_and_the_ttl(tmp_path: Path) -> None:
    root, log = tmp_path / "root", tmp_path / "log"
    (root / "etc/ssh/sshd_config.d").mkdir(parents=True)
    shims(tmp_path / "bin", log)
    script = tmp_path / "startup.sh"
    script.write_text(render())
    assert run(script, root, tmp_path / "bin", {}) == 0
    assert run(script, root, tmp_path / "bin", {}) == 0  # every boot: idempotent
    calls = log.read_text()
    assert "systemctl enable --now cmlinfra-self-delete.service" in calls
    assert calls.count("shutdown -P +120") == 1  # armed once, not again at the next boot
    unit = (root / "etc/systemd/system/cmlinfra-self-delete.service").read_text()
    assert "ExecStop=/usr/local/lib/cmlinfra/self-delete --on-shutdown" in unit
    assert (root / "usr/local/lib/cmlinfra/self-delete").stat().st_mode & 0o111
    assert "Port 2222" in (root / "etc/ssh/sshd_config.d/60-cmlinfra-port.conf").read_text()


def test_self_delete_deletes_the_instance(gcp: GcpApi, metadata: str, tmp_path: Path) -> None:
    body = {"name": NAME, "machineType": f"zones/{ZONE}/machineTypes/n1-standard-4"}
    gcp.compute.handle("compute.instances.insert", {"project": "cml-test", "zone": ZONE}, {}, body)
    gcp.server.tokens.add(TOKEN)
    root, log = tmp_path / "root", tmp_path / "log"
    shims(tmp_path / "bin", log)
    script = tmp_path / "startup.sh"
    script.write_text(render())
    (root / "etc/ssh/sshd_config.d").mkdir(parents=True)
    assert run(script, root, tmp_path / "bin", {}) == 0
    self_delete = root / "usr/local/lib/cmlinfra/self-delete"
    api = f"{gcp.server.url}/compute/v1"
    env = {"CMLINFRA_METADATA_URL": metadata, "CMLINFRA_COMPUTE_URL": api}
    # a reboot must not delete the machine (the bootstrap reboots after installing drivers)
    shims(tmp_path / "bin", log, jobs="1042 reboot.target start waiting\n")
    assert run(self_delete, root, tmp_path / "bin", env, "--on-shutdown") == 0
    assert f"{ZONE}/{NAME}" in gcp.compute.instances
    shims(tmp_path / "bin", log, jobs="1042 poweroff.target start waiting\n")
    assert run(self_delete, root, tmp_path / "bin", env, "--on-shutdown") == 0
    assert f"{ZONE}/{NAME}" not in gcp.compute.instances
    assert gcp.server.called("compute.instances.delete") == 1
    assert TOKEN not in log.read_text(), "the token reached a command line"
