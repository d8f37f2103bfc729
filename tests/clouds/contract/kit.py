"""The contract test kit: what a cloud's harness gives the shared suite (test_contract.py).

A harness is a module-scoped fixture named ``<cloud>_harness`` (``harness_<cloud>.py``) that
returns a :class:`Harness`: a valid request, bad ones, a way to put machines carrying the
cloud's tags into its API (the real API, or the cloud's local fake) and real error messages.
conftest.py lists the harnesses; adding a cloud's is one file and one line there
(docs/adding-a-cloud.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

from cmlinfra.clouds.base import ErrorKind, MachineRequest, SweepScope


@dataclass(frozen=True)
class ErrorSample:
    """A real error text of the cloud (its API's, its Terraform provider's, cmlinfra's own
    refusal) and what it means. ``source``: where exactly it was seen (a URL, a command run
    against the real component here, with its date)."""

    text: str
    kind: ErrorKind
    source: str


# (stack name, role, expiry epoch or None) -> the machine's id in the cloud's API
Planter = Callable[[str, str, float | None], str]


@dataclass
class Harness:
    cloud: str
    prefix: str  # every machine and stack the harness makes is named with it (shared clouds)
    request: MachineRequest  # valid: prepare() and render() accept it in this harness
    bad: list[tuple[MachineRequest, str]]  # refused offline: (request, part of the one line)
    # a valid request that carries ``text`` into the Terraform configuration (a label, a user)
    inject: Callable[[str], MachineRequest]
    errors: list[ErrorSample]
    plant: Planter | None = None  # machines with the cloud's tags, made through its API
    scope: SweepScope = field(default_factory=SweepScope)  # where gc looks for them
    image_region: str | None = None
    taken_image: str | None = None  # an image name check_free() must refuse
    plant_image: Callable[[str], str] | None = None  # a cmlinfra image named so -> its id
    terraform_validates: bool = True  # its providers install here: `terraform validate` runs
    # (outputs of an applied stack, the host keys address() must return), where cheap
    address_case: Callable[[], tuple[dict[str, Any], tuple[str, ...]]] | None = None
    env: dict[str, str] = field(default_factory=dict)  # what the cloud reads (endpoints…)
    down: dict[str, str] = field(default_factory=dict)  # env that makes its API unreachable

    def name(self, suffix: str) -> str:
        return f"{self.prefix}{suffix}"


def module_interface(module: Path) -> tuple[set[str], set[str], set[str]]:
    """(every variable, the required ones, the outputs) of a Terraform module, from its HCL."""
    variables: dict[str, Any] = {}
    outputs: set[str] = set()
    for path in sorted(module.glob("*.tf")):
        parsed = hcl2.loads(path.read_text())
        for item in parsed.get("variable", []):
            variables.update({k.strip('"'): v for k, v in item.items()})
        for item in parsed.get("output", []):
            outputs.update(k.strip('"') for k in item)
    required = {n for n, body in variables.items() if "default" not in body}
    return set(variables), required, outputs


# ``${``/``%{`` that Terraform would evaluate: ``$${`` and ``%%{`` are its escapes
UNESCAPED = re.compile(r"(?<!\$)\$\{|(?<!%)%\{")


def unescaped_templates(text: str) -> list[str]:
    """Terraform template sequences (``${`` / ``%{`` not doubled) in a JSON string value."""
    return UNESCAPED.findall(text)
