"""Pre-baked runner images: bake once (driver, Docker, toolkit, agents), launch in seconds.

``cleanup.sh`` is the one list of what a published image must not contain; both
``cmlinfra image bake`` and the Packer template in ``images/packer/`` run it last.
"""

from __future__ import annotations

from pathlib import Path

CLEANUP_SCRIPT = Path(__file__).with_name("cleanup.sh")
