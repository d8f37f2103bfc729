"""The fake cloud's API: machines and images as JSON files under ``$CMLINFRA_FAKECLOUD_DIR``.

``machines/<id>.json``: ``{"id", "zone", "state", "labels": {…}, "host_key"}``;
``images/<id>.json``: ``{"id", "name", "created", "labels": {…}}``. The directory not existing
is the API being down. Error messages are the fake API's own, in the style of a public cloud's
(``ZONE_RESOURCE_POOL_EXHAUSTED`` …), so classification has something to classify.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cmlinfra.errors import CmlinfraError

DIR_ENV = "CMLINFRA_FAKECLOUD_DIR"

# label keys (the cloud's tag convention, defined once)
STACK_LABEL = "cmlinfra-stack"
EXPIRES_LABEL = "cmlinfra-expires"
IMAGE_LABEL = "cmlinfra-image"


def root() -> Path:
    path = Path(os.environ.get(DIR_ENV, "/nonexistent/fakecloud"))
    if not path.is_dir():
        raise CmlinfraError(
            f"the fake cloud's API is down (no {path}): RETRY_LATER", f"set ${DIR_ENV}"
        )
    return path


def _collection(kind: str) -> Path:
    path = root() / kind
    path.mkdir(exist_ok=True)
    return path


def put(kind: str, item: dict[str, Any]) -> None:
    (_collection(kind) / f"{item['id']}.json").write_text(json.dumps(item))


def get(kind: str, item_id: str) -> dict[str, Any] | None:
    path = _collection(kind) / f"{item_id}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def items(kind: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(_collection(kind).glob("*.json"))]


def delete(kind: str, item_id: str) -> None:
    (_collection(kind) / f"{item_id}.json").unlink(missing_ok=True)
