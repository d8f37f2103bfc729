"""Recognizing a state lock that this very run left behind, so that it can be released.

Terraform takes the DynamoDB lock with a conditional ``PutItem`` (the S3 lockfile with a
conditional ``PutObject``). When the write succeeds but its reply is lost (a network blip, a
proxy timeout), the AWS SDK retries the write, the retry finds the item the first attempt
created, and terraform waits on *its own* lock until ``-lock-timeout`` and then fails, leaving
the lock behind for every later run (reproduced on 1.0.3 and 1.11.4 in
tests/terraform/test_locking.py). Only the lock ID tells "ours" from "someone else's", and
terraform prints it only in its core log: so each run writes that log to a private file in the
stack directory, this module reads the IDs the run tried to write, and deletes the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from cmlinfra.terraform.binary import TerraformBinary

LOG_FILE = ".cmlinfra-terraform-core.log"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# >= 1.6 (aws-sdk-go-v2 backend), at INFO: one line per attempt to take the lock
_ATTEMPT = re.compile(r"Attempting to lock remote state.*?tf_backend\.lock\.id=(" + _UUID + ")")
# 1.0 to 1.5, at DEBUG: the SDK's dump of each PutItem request, whose body holds the lock info
_PUT_ITEM = re.compile(
    r"Request dynamodb/PutItem Details:(.*?)(?=\n\S+ \[(?:TRACE|DEBUG|INFO|WARN|ERROR)\]|\Z)",
    re.DOTALL,
)
_ID_IN_BODY = re.compile(r'\\"ID\\":\\"(' + _UUID + r')\\"')


def log_environment(
    binary: TerraformBinary, workdir: Path, env: Mapping[str, str]
) -> dict[str, str]:
    """Terraform's core log settings for this run; none when the user set up logging."""
    if any(env.get(key) for key in ("TF_LOG", "TF_LOG_CORE", "TF_LOG_PATH")):
        return {}
    level = "INFO" if binary.at_least(terraform=(1, 6, 0), tofu=(1, 6, 0)) else "DEBUG"
    # TF_LOG_CORE leaves providers out of the file; the backend is part of core.
    return {"TF_LOG_CORE": level, "TF_LOG_PATH": str(workdir / LOG_FILE)}


def fresh_log(workdir: Path) -> None:
    """Before a run: an empty log readable by its owner only (the SDK's debug dump on 1.0.x
    carries request headers; terraform appends to an existing file and keeps its mode), and no
    ID from an earlier run (say, one whose Python was killed while its terraform went on
    holding the lock) can ever count as this run's."""
    path = workdir / LOG_FILE
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def lock_ids_attempted(workdir: Path) -> set[str]:
    """The lock IDs this run tried to write; the log is deleted (it is never kept)."""
    path = workdir / LOG_FILE
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return set()
    finally:
        path.unlink(missing_ok=True)
    found = set(_ATTEMPT.findall(text))
    for body in _PUT_ITEM.findall(text):
        found.update(_ID_IN_BODY.findall(body))
    return found
