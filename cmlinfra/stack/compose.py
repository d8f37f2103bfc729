"""Compose a :class:`~cmlinfra.clouds.base.StackSpec` into Terraform JSON with cdktn.

The stack is made of the project's own HCL modules (``TerraformHclModule``), so the modules
stay usable without cmlinfra and no prebuilt provider bindings are imported (they cost seconds
and hundreds of MB per synth). Providers, ``required_providers`` and the backend are raw blocks
placed with overrides; the backend block comes from the engine, rendered for the exact
terraform binary that will read it.

Every string in a module variable or a provider block is written *literally*: Terraform
reads strings in JSON configuration as templates, so a host, a label or a tag holding
``${file("~/.ssh/id_ed25519")}`` would otherwise be evaluated on the launcher and land in the
plan, the state and a plan comment. :func:`literal` escapes ``${`` and ``%{`` (``$${``,
``%%{``) in every string and key, here, for every cloud; the only expressions written are
:class:`~cmlinfra.clouds.base.Ref` values (another module's output) and the stack's outputs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from cmlinfra.clouds.base import Ref, StackSpec
from cmlinfra.secrets import FORGE_TOKEN_VARIABLES

STACK_FILE = "stack.tf.json"
# jsii talks to its one Node.js kernel over one pipe: two threads synthesizing at once (parallel
# `runner destroy` rebuilding stacks from the registry) would interleave their messages
_SYNTH_LOCK = threading.Lock()

# jsii's node child prints a large banner on stderr for an end-of-life Node; the CLI's stderr
# is for progress lines. Both variables only silence warnings.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
# jsii starts Node.js with a copy of this process's environment: the jsii-node script removes
# the forge tokens first (the names it gets here), then runs Node.js without its JIT — or a
# user's own JSII_NODE, which is kept in CMLINFRA_NODE and run the same scrubbed way.
_JSII_NODE = str(Path(__file__).with_name("jsii-node"))
if os.environ.get("JSII_NODE", _JSII_NODE) != _JSII_NODE:
    os.environ["CMLINFRA_NODE"] = os.environ["JSII_NODE"]
os.environ["JSII_NODE"] = _JSII_NODE
os.environ["CMLINFRA_SCRUB_VARIABLES"] = " ".join(sorted(FORGE_TOKEN_VARIABLES))


def escape(text: str) -> str:
    """``text`` as a Terraform string template that evaluates to ``text`` itself."""
    return text.replace("${", "$${").replace("%{", "%%{")


def literal(value: Any) -> Any:
    """``value`` (strings, numbers, booleans, lists, maps, nested) for Terraform JSON, so that
    Terraform reads back exactly ``value``: every string and map key escaped, a ``Ref`` as
    its ``${…}`` expression."""
    if isinstance(value, Ref):
        return f"${{{value.expression}}}"
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {escape(str(key)): literal(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [literal(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    raise TypeError(f"{type(value).__name__} cannot be a Terraform variable value")


_prewarm = threading.Lock()
_prewarmed: list[threading.Thread] = []


def prewarm() -> None:
    """Start importing cdktn in a background thread (once per process). The import starts
    jsii's node child and loads the assembly, ≈ 0.5 s of which most is waiting on node; a
    launcher calls this first, so that wait overlaps its forge and cloud checks instead of
    adding to them. :func:`synthesize` imports cdktn as usual: Python's import lock makes it
    wait for a prewarm in progress, and a prewarm that failed changes nothing.

    The thread is not a daemon: a launcher that refuses its input within that half second
    exits only once the import is done. A daemon thread would be cut off while jsii unpacks
    its runtime into a temporary folder, and that folder's clean-up at exit then fails and
    prints a traceback under the one-line error."""
    with _prewarm:
        if _prewarmed:
            return
        thread = threading.Thread(target=_import_cdktn, name="cdktn-prewarm")
        _prewarmed.append(thread)
        thread.start()


def _import_cdktn() -> None:
    try:
        import cdktn  # noqa: F401
    except Exception:  # synthesize() imports it again and reports the error
        return


def _override_backend(stack: Any, block: dict[str, Any]) -> None:
    """cdktn always adds a default ``local`` backend: a null override at its key removes it
    (null only deletes at a leaf), then each wanted backend type is set by its own path."""
    if "local" not in block:
        stack.add_override("terraform.backend.local", None)
    for kind, settings in block.items():
        stack.add_override(f"terraform.backend.{kind}", settings)


def synthesize(spec: StackSpec, workdir: Path, backend: dict[str, Any] | None = None) -> Path:
    """Write ``stack.tf.json`` for ``spec`` into ``workdir`` and return its path.

    ``backend`` is ``{"s3": {...}}`` / ``{"local": {...}}`` (``Backend.block(binary)``); None
    keeps terraform's default local state in ``workdir``. One synthesis at a time per process
    (jsii's kernel is one node child behind one pipe), so threads may call this.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    with _SYNTH_LOCK:
        return _synthesize(spec, workdir, backend)


def _synthesize(spec: StackSpec, workdir: Path, backend: dict[str, Any] | None) -> Path:
    from cdktn import App, TerraformHclModule, TerraformOutput, TerraformStack

    with tempfile.TemporaryDirectory(prefix=".synth-", dir=workdir) as outdir:
        app = App(outdir=outdir)
        stack = TerraformStack(app, spec.name)
        for label, (source, variables) in spec.modules.items():
            TerraformHclModule(stack, label, source=str(source), variables=literal(variables))
        for name, expression in spec.outputs.items():
            TerraformOutput(
                stack,
                f"output-{name}",
                value=f"${{{expression}}}",
                sensitive=name in spec.sensitive_outputs or None,
                static_id=True,
            ).override_logical_id(name)
        if spec.required_providers:
            stack.add_override("terraform.required_providers", spec.required_providers)
        if spec.providers:
            stack.add_override(
                "provider", {name: [literal(block)] for name, block in spec.providers.items()}
            )
        default = {"local": {"path": str(workdir.absolute() / "terraform.tfstate")}}
        _override_backend(stack, backend or default)
        app.synth()
        synthesized = Path(outdir) / "stacks" / spec.name / "cdk.tf.json"
        target = workdir / STACK_FILE
        shutil.move(str(synthesized), target)
    return target
