"""The Kubernetes cloud's own options: CML's ``--cloud-kubernetes-node-selector`` plus the
toleration and runtime class a GPU node pool usually asks for. Declared here for the CLI and
checked here offline (Kubernetes' own label and name syntax), so a typo fails before the API is
asked anything. Stdlib only: the registry reads ``OPTIONS`` for ``--help``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cmlinfra.clouds.info import CloudOption
from cmlinfra.errors import UsageError

if TYPE_CHECKING:
    from cmlinfra.clouds.base import MachineRequest

NODE_SELECTOR = CloudOption(
    "--cloud-kubernetes-node-selector",
    "Kubernetes: node labels the pod must land on, KEY=VALUE (repeat it, or separate pairs "
    "with commas). CML's default accelerator=infer asks for accelerator=<the GPU's model, e.g. "
    "nvidia-tesla-t4> when a GPU is requested; 'none': no selector.",
    multiple=True,
)
TOLERATION = CloudOption(
    "--cloud-kubernetes-toleration",
    "Kubernetes: a taint the pod tolerates, KEY[=VALUE][:EFFECT] as in 'kubectl taint' "
    "(e.g. nvidia.com/gpu:NoSchedule); repeat it, or separate with commas.",
    multiple=True,
)
RUNTIME_CLASS = CloudOption(
    "--cloud-kubernetes-runtime-class",
    "Kubernetes: the pod's runtimeClassName (e.g. nvidia, where the GPU operator needs it).",
)
OPTIONS = (NODE_SELECTOR, TOLERATION, RUNTIME_CLASS)

DEFAULT_SELECTOR = "accelerator=infer"  # CML's default: the GPU model's accelerator label
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
LABEL_KEY = re.compile(rf"^(?:(?={_SUBDOMAIN}/)[-a-z0-9.]{{1,253}}/)?{_NAME}\Z")
LABEL_VALUE = re.compile(rf"^(?:{_NAME})?\Z")
DNS_SUBDOMAIN = re.compile(rf"^(?=.{{1,253}}$){_SUBDOMAIN}\Z")


@dataclass(frozen=True)
class Toleration:
    key: str
    operator: str  # Equal | Exists
    value: str | None
    effect: str | None

    def to_manifest(self) -> dict[str, str]:
        """The toleration as the pod spec (and the module's variable) writes it."""
        found = {"key": self.key, "operator": self.operator, "value": self.value}
        return {k: v for k, v in {**found, "effect": self.effect}.items() if v is not None}


def _items(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def label_key(key: str, where: str) -> str:
    if not LABEL_KEY.match(key):
        raise UsageError(
            f"{where}: {key!r} is not a Kubernetes label key",
            "use [PREFIX/]NAME: NAME up to 63 letters, digits, '-', '_', '.'; PREFIX a DNS name",
        )
    return key


def node_selector(request: MachineRequest, accelerator: str | None) -> dict[str, str]:
    """The pod's nodeSelector. CML's ``accelerator=infer`` (the default) becomes the GPU's
    accelerator label, or nothing without a GPU; ``none`` asks for no selector."""
    given = request.options.get(NODE_SELECTOR.flag)
    pairs = _items(DEFAULT_SELECTOR if given is None else given)
    if pairs == ["none"]:
        return {}
    selector: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(
                f"{NODE_SELECTOR.flag} {pair!r} is not KEY=VALUE",
                f"write it as {NODE_SELECTOR.flag} disktype=ssd",
            )
        key = label_key(key.strip(), NODE_SELECTOR.flag)
        value = value.strip()
        if value == "infer":
            if accelerator:
                selector[key] = accelerator
            continue
        if not LABEL_VALUE.match(value):
            raise UsageError(
                f"{NODE_SELECTOR.flag}: {value!r} is not a Kubernetes label value",
                "use up to 63 letters, digits, '-', '_' or '.', starting and ending with one "
                "of the first two",
            )
        selector[key] = value
    return selector


def tolerations(request: MachineRequest) -> list[Toleration]:
    """``KEY[=VALUE][:EFFECT]`` each, as ``kubectl taint`` writes a taint: with a value the
    operator is Equal, without one Exists."""
    found = []
    for item in _items(request.options.get(TOLERATION.flag)):
        rest, sep, effect = item.rpartition(":")
        if not sep:
            rest, effect = item, ""
        key, eq, value = rest.partition("=")
        if effect and effect not in EFFECTS:
            raise UsageError(
                f"{TOLERATION.flag} {item!r}: {effect!r} is not a taint effect",
                f"use one of {', '.join(EFFECTS)}, e.g. nvidia.com/gpu:NoSchedule",
            )
        label_key(key.strip(), TOLERATION.flag)
        if eq and not LABEL_VALUE.match(value.strip()):
            raise UsageError(
                f"{TOLERATION.flag} {item!r}: {value!r} is not a label value",
                "use up to 63 letters, digits, '-', '_' or '.'",
            )
        found.append(
            Toleration(
                key=key.strip(),
                operator="Equal" if eq else "Exists",
                value=value.strip() if eq else None,
                effect=effect or None,
            )
        )
    return found


def runtime_class(request: MachineRequest) -> str | None:
    name = (request.options.get(RUNTIME_CLASS.flag) or "").strip()
    if name and not DNS_SUBDOMAIN.match(name):
        raise UsageError(
            f"{RUNTIME_CLASS.flag} {name!r} is not a RuntimeClass name",
            "use lowercase letters, digits, '-' and '.' (e.g. nvidia)",
        )
    return name or None
