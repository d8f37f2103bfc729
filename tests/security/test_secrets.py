"""Finding 10: secrets in child processes and output.

- The Node.js processes of the stack synthesis (jsii) inherited the CI job's forge tokens
  (Terraform's environment was scrubbed, Node's was not): both now get one scrubbed
  environment (:func:`cmlinfra.secrets.scrubbed_environment`; the jsii-node script removes the
  same names). Proven by reading ``/proc/PID/environ`` of the real node processes.
- Secrets shorter than 6 characters were never redacted: they are now masked where they stand
  as a word of their own (the documented trade-off against masking ordinary words).
- The CLI's one-line error bypassed ``redact()``: it now goes through it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fixtures.cli import REPO_ROOT, cli_env
from tests.security.attacks import assert_refused

CANARY = "ghp_canaryNodeMustNotSee0123456789"

SYNTH = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from cmlinfra.clouds.base import StackSpec
    from cmlinfra.clouds.modules import module_path
    from cmlinfra.stack.compose import synthesize

    spec = StackSpec(name="cmlt-env", cloud="ssh",
                     modules={"host": (module_path("ssh", "host"), {"host": "192.0.2.1"})},
                     providers={}, required_providers={}, outputs={})
    synthesize(spec, Path(sys.argv[1]))

    def parent(pid):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

    def descends(pid):
        while pid > 1:
            pid = parent(pid)
            if pid == os.getpid():
                return True
        return False

    found = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and descends(int(entry.name)):
                cmdline = (entry / "cmdline").read_bytes().replace(b"\\0", b" ").decode()
                found[cmdline] = (entry / "environ").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            continue
    print(json.dumps(found))
    """
)


def _synth_children(tmp_path: Path, **env: str) -> dict[str, str]:
    """{command line: environment} of every process the synthesis left running (the jsii
    kernel stays up until the Python process exits)."""
    tokens = {"REPO_TOKEN": CANARY, "GITHUB_TOKEN": CANARY, "CI_JOB_TOKEN": CANARY}
    done = subprocess.run(
        [sys.executable, "-c", SYNTH, str(tmp_path / "work")],
        env=cli_env({**tokens, **env}),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_the_synthesis_node_processes_get_no_forge_token(tmp_path: Path) -> None:
    children = _synth_children(tmp_path)
    assert any("node" in command for command in children), children.keys()
    for command, environ in children.items():
        assert CANARY not in environ, f"{command} got a forge token"


def test_a_users_own_jsii_node_is_scrubbed_too(tmp_path: Path) -> None:
    seen = tmp_path / "seen-env"
    node = tmp_path / "my-node"
    node.write_text(f'#!/bin/sh\nenv >"{seen}"\nexec node "$@"\n')
    node.chmod(0o755)
    _synth_children(tmp_path, JSII_NODE=str(node))
    assert seen.is_file(), "the user's JSII_NODE was not used"
    assert CANARY not in seen.read_text()


def test_another_installs_jsii_node_inherited_is_run_once(tmp_path: Path) -> None:
    """A cmlinfra started by another install inherits that install's JSII_NODE: its own copy of
    the jsii-node script. Both scripts then run, once each, and Node.js starts (the CI suite
    once hung 400 s here: the two scripts exec'd each other forever)."""
    other = tmp_path / "other-install" / "jsii-node"
    other.parent.mkdir()
    shutil.copy(REPO_ROOT / "cmlinfra" / "stack" / "jsii-node", other)
    children = _synth_children(tmp_path, JSII_NODE=str(other))
    assert any("node" in command and "jsii" in command for command in children), children.keys()


def test_short_secrets_are_masked_as_words() -> None:
    from cmlinfra.secrets import Secret, redact

    Secret("Zq9")
    assert redact("token Zq9 rejected") == "token *** rejected"
    assert redact("path /commits/Zq9/pulls and 'Zq9'") == "path /commits/***/pulls and '***'"
    assert redact("Zq9x and xZq9 stay") == "Zq9x and xZq9 stay"  # only the value itself
    Secret("")
    assert redact("nothing to hide") == "nothing to hide"


@pytest.mark.parametrize("token", ["Zq9x", "LongTokenValueCanary123456"])
def test_the_cli_error_line_is_redacted(cli, forge, forge_repo, tmp_path: Path, token) -> None:
    """The token, given again where an id belongs, comes back in the error: masked."""
    repo = forge_repo("github")
    report = tmp_path / "report.md"
    report.write_text("# report\n")
    result = cli(
        "comment", "create", str(report), "--token", token, "--target", f"commit/{token}",
        env=repo.env(),
    )  # fmt: skip
    line = assert_refused(result)
    assert token not in line and "***" in line


def test_a_forge_message_echoing_a_short_token_is_masked(cli, forge, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    forge.fail("github", "*", ".*", 401, message="Bad credentials for Zq7w")
    report = tmp_path / "report.md"
    report.write_text("# report\n")
    result = cli("comment", "create", str(report), "--token", "Zq7w", env=repo.env())
    line = assert_refused(result, "rejected by GitHub")
    assert "Zq7w" not in line
