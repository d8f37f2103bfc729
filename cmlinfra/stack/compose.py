"""Compose a :class:`~cmlinfra.clouds.base.StackSpec` into Terraform JSON with cdktn.

The stack is made of the project's own HCL modules (``TerraformHclModule``), so the modules
stay usable without cmlinfra and no prebuilt provider bindings are imported (they cost seconds
and hundreds of MB per synth). Providers, ``required_providers`` and the backend are raw blocks
placed with overrides; the backend block comes from the engine, rendered for the exact
terraform binary that will read it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from cmlinfra.clouds.base import StackSpec

STACK_FILE = "stack.tf.json"

# jsii's node child prints a large banner on stderr for an end-of-life Node; the CLI's stderr
# is for progress lines. Both variables only silence warnings.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
# Node.js without its JIT (see the script); a user's own JSII_NODE wins.
os.environ.setdefault("JSII_NODE", str(Path(__file__).with_name("jsii-node")))


_prewarm, _synth = threading.Lock(), threading.Lock()
_prewarmed: list[threading.Thread] = []


def prewarm() -> None:
    """Start importing cdktn in a background thread (once per process). The import starts
    jsii's node child and loads the assembly, ≈ 0.5 s of which most is waiting on node; a
    launcher calls this first, so that wait overlaps its forge and cloud checks instead of
    adding to them. :func:`synthesize` imports cdktn as usual: Python's import lock makes it
    wait for a prewarm in progress, and a prewarm that failed changes nothing."""
    with _prewarm:
        if _prewarmed:
            return
        thread = threading.Thread(target=_import_cdktn, name="cdktn-prewarm", daemon=True)
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
    with _synth:
        return _synthesize(spec, workdir, backend)


def _synthesize(spec: StackSpec, workdir: Path, backend: dict[str, Any] | None) -> Path:
    from cdktn import App, TerraformHclModule, TerraformOutput, TerraformStack

    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".synth-", dir=workdir) as outdir:
        app = App(outdir=outdir)
        stack = TerraformStack(app, spec.name)
        for label, (source, variables) in spec.modules.items():
            TerraformHclModule(stack, label, source=str(source), variables=variables)
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
                "provider", {name: [block] for name, block in spec.providers.items()}
            )
        default = {"local": {"path": str(workdir.absolute() / "terraform.tfstate")}}
        _override_backend(stack, backend or default)
        app.synth()
        synthesized = Path(outdir) / "stacks" / spec.name / "cdk.tf.json"
        target = workdir / STACK_FILE
        shutil.move(str(synthesized), target)
    return target
