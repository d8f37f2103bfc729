"""Where the Google credentials and the project come from: Application Default Credentials
(``GOOGLE_APPLICATION_CREDENTIALS``: a key file or a workload identity federation
configuration; gcloud's ADC; the metadata server), CML's ``GOOGLE_APPLICATION_CREDENTIALS_DATA``,
and the project from the environment, the credentials or the impersonated service account."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from cmlinfra.errors import UsageError

PROJECT_ENVS = ("CMLINFRA_GCP_PROJECT", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT",
                "GCLOUD_PROJECT", "GOOGLE_PROJECT")  # fmt: skip
IMPERSONATION = re.compile(r"/serviceAccounts/[^@/]+@([a-z][-a-z0-9]{4,28}[a-z0-9])\.iam\.")


def project_from(credentials: Any, found: str | None) -> str | None:
    """The project: the environment, then what ADC says, then (workload identity federation)
    the impersonated service account's project, as terraform-provider-iterative does."""
    for name in PROJECT_ENVS:
        if os.environ.get(name):
            return os.environ[name]
    if found:
        return found
    url = getattr(credentials, "service_account_email", None) or ""
    url = getattr(credentials, "_service_account_impersonation_url", None) or url
    match = IMPERSONATION.search(str(url)) or re.search(r"@([a-z][-a-z0-9]+)\.iam\.", str(url))
    return match.group(1) if match else None


DATA_ENV = "GOOGLE_APPLICATION_CREDENTIALS_DATA"  # CML's: the key file's contents


def credentials_from_data() -> None:
    """CML's ``GOOGLE_APPLICATION_CREDENTIALS_DATA`` (a key file's JSON in a CI secret): written
    once to a private file that ``GOOGLE_APPLICATION_CREDENTIALS`` then names, so this process,
    terraform's google provider and its gcs backend all read it; removed when cmlinfra exits."""
    data = os.environ.get(DATA_ENV, "").strip()
    if not data or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return
    import atexit
    import tempfile

    try:
        json.loads(data)
    except ValueError:
        raise UsageError(
            f"${DATA_ENV} is not JSON", "give it the contents of the service account key file"
        ) from None
    handle, path = tempfile.mkstemp(prefix="cmlinfra-gcp-", suffix=".json")
    with os.fdopen(handle, "w") as out:  # mkstemp: mode 0600, only this user can read it
        out.write(data)
    atexit.register(_remove, path)
    os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = path


def _remove(path: str) -> None:
    from contextlib import suppress

    with suppress(FileNotFoundError):
        os.unlink(path)


def settle_project() -> None:
    """Make the project known to google-auth before it looks for one: otherwise, with workload
    identity federation, ``google.auth.default()`` asks Cloud Resource Manager over the network
    (and needs a permission for it). From our variables, else the key file's ``project_id``,
    else the impersonated service account's project; exported as ``GOOGLE_CLOUD_PROJECT``,
    which terraform's google provider reads too."""
    if os.environ.get("GOOGLE_CLOUD_PROJECT"):
        return
    project = next((os.environ[n] for n in PROJECT_ENVS if os.environ.get(n)), None)
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "")
    if not project and path and os.path.isfile(path):
        try:
            info = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            info = {}
        project = info.get("project_id") or None
        match = IMPERSONATION.search(str(info.get("service_account_impersonation_url", "")))
        project = project or (match.group(1) if match else None)
    if project:
        os.environ["GOOGLE_CLOUD_PROJECT"] = project
