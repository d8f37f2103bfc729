"""Where the cluster is and who we are: the kubeconfig, found the way CML and kubectl find it.

In order: ``$KUBERNETES_CONFIGURATION`` (CML's variable: the kubeconfig's *content*, usually a
CI secret), ``$KUBECONFIG`` (paths, ``:``-separated), ``~/.kube/config``, and the in-cluster
service account (a launcher that itself runs in a pod). The official client parses it
(contexts, client certificates, tokens, exec plugins such as ``aws eks get-token``).

Terraform's Kubernetes provider reads none of these variables, so :func:`terraform_environment`
points it at the same file (``KUBE_CONFIG_PATH``, ``KUBE_CTX``): the content of
``$KUBERNETES_CONFIGURATION`` is written once to a private file (0600, in a 0700 directory of
``$CMLINFRA_HOME``) named by its hash — a path, never the credentials, reaches Terraform.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmlinfra.errors import CmlinfraError

CONTENT_ENV = "KUBERNETES_CONFIGURATION"  # CML's: the kubeconfig itself
PATH_ENV = "KUBECONFIG"
IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_NAMESPACE = "default"
FIX = f"set {CONTENT_ENV} to a kubeconfig's content, or {PATH_ENV} to its path"


@dataclass(frozen=True)
class Connection:
    """A loaded configuration: a client for the API and what it says about the target."""

    client: Any = field(repr=False)  # kubernetes.client.ApiClient
    source: str  # where it came from, for messages ("$KUBECONFIG (/path)")
    server: str
    namespace: str  # the context's namespace, else "default"
    context: str  # "" in-cluster
    files: tuple[str, ...] = ()  # kubeconfig files Terraform's provider should read

    def terraform_environment(self) -> dict[str, str]:
        if not self.files:
            return {}  # in-cluster: the provider finds the service account itself
        env = {"KUBE_CONFIG_PATHS": os.pathsep.join(self.files)}
        if len(self.files) == 1:
            env = {"KUBE_CONFIG_PATH": self.files[0]}
        if self.context:
            env["KUBE_CTX"] = self.context
        return env


def _private_copy(content: str) -> str:
    """``$KUBERNETES_CONFIGURATION`` as a 0600 file Terraform's provider can read."""
    home = Path(os.environ.get("CMLINFRA_HOME") or Path.home() / ".cmlinfra")
    folder = home / "kubeconfig"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = folder / f"{hashlib.sha256(content.encode()).hexdigest()[:16]}.yaml"
    if not path.is_file():
        fd = os.open(path.with_suffix(".partial"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        path.with_suffix(".partial").replace(path)
    return str(path)


def _from_files(paths: list[str], source: str) -> Connection:
    from kubernetes import client, config
    from kubernetes.config.kube_config import KubeConfigLoader, KubeConfigMerger

    configuration = client.Configuration()
    try:
        merged = KubeConfigMerger(os.pathsep.join(paths))
        loader = KubeConfigLoader(config_dict=merged.config, config_base_path=None)
        config.load_kube_config(
            config_file=os.pathsep.join(paths), client_configuration=configuration
        )
        context = loader.current_context
    except (config.ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
        raise CmlinfraError(f"{source} is not a usable kubeconfig: {exc}", FIX) from None
    namespace = str((context.get("context") or {}).get("namespace") or DEFAULT_NAMESPACE)
    return Connection(
        client=client.ApiClient(configuration),
        source=source,
        server=str(configuration.host),
        namespace=namespace,
        context=str(context.get("name") or ""),
        files=tuple(paths),
    )


@functools.cache
def _load(content: str, paths: str, in_cluster: bool) -> Connection:
    if content.strip():
        return _from_files([_private_copy(content)], f"${CONTENT_ENV}")
    if paths:
        files = [p for p in paths.split(os.pathsep) if p]
        missing = [p for p in files if not Path(p).is_file()]
        if missing and len(missing) == len(files):
            raise CmlinfraError(f"${PATH_ENV} names no existing file ({paths})", FIX)
        return _from_files([p for p in files if p not in missing], f"${PATH_ENV} ({paths})")
    default = Path.home() / ".kube" / "config"
    if default.is_file():
        return _from_files([str(default)], str(default))
    if in_cluster:
        from kubernetes import client, config

        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException as exc:
            raise CmlinfraError(f"the in-cluster configuration is not usable: {exc}", FIX) from None
        namespace_file = SERVICE_ACCOUNT / "namespace"
        namespace = (
            namespace_file.read_text().strip() if namespace_file.is_file() else DEFAULT_NAMESPACE
        )
        return Connection(
            client.ApiClient(configuration),
            "the pod's service account",
            str(configuration.host),
            namespace,
            "",
        )
    raise CmlinfraError("no Kubernetes configuration found", FIX)


def connect() -> Connection:
    """The configuration the environment gives (cached per process and environment)."""
    return _load(
        os.environ.get(CONTENT_ENV, ""),
        os.environ.get(PATH_ENV, ""),
        bool(os.environ.get(IN_CLUSTER_ENV)),
    )
