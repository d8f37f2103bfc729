"""The flaky cloud's API: JSON files under ``$CMLINFRA_FLAKY_DIR`` (``machines/``, ``networks/``,
``zones/``), and the provisioners' command line (``python -m tests.stack.flakycloud.api``).

``zones/<zone>.json``: ``{"refuse": TEXT, "times": N, "leak": bool, "price": USD}`` — the next N
machine creates in that zone print TEXT on stderr and fail, after writing the machine first
when ``leak`` (a create the cloud half-did: it bills, and Terraform never learns of it).
``log.jsonl``: one line per create/delete, with a timestamp (what the bench reads).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

DIR_ENV = "CMLINFRA_FLAKY_DIR"
STACK_LABEL = "cmlinfra-stack"


def root() -> Path:
    path = Path(os.environ.get(DIR_ENV, "/nonexistent/flaky"))
    if not path.is_dir():
        raise SystemExit(f"the flaky cloud's API is down (no {path})")
    return path


def put(kind: str, item: dict[str, Any]) -> None:
    folder = root() / kind
    folder.mkdir(exist_ok=True)
    (folder / f"{item['id']}.json").write_text(json.dumps(item))


def get(kind: str, item_id: str) -> dict[str, Any] | None:
    path = root() / kind / f"{item_id}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def items(kind: str) -> list[dict[str, Any]]:
    folder = root() / kind
    return (
        [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
        if folder.is_dir()
        else []
    )


def delete(kind: str, item_id: str) -> None:
    (root() / kind / f"{item_id}.json").unlink(missing_ok=True)


def zone(name: str, **behaviour: Any) -> None:
    """Tell zone ``name`` how to behave (tests)."""
    put("zones", {"id": name, **behaviour})


def _log(event: str, **fields: Any) -> None:
    with (root() / "log.jsonl").open("a") as stream:
        stream.write(json.dumps({"event": event, "at": time.time(), **fields}) + "\n")


def main(argv: list[str]) -> int:
    action, name, where = argv[:3]
    machine_id = f"{name}.{where}"
    if action == "create-network":
        put("networks", {"id": machine_id, "zone": where, "labels": {STACK_LABEL: name}})
    elif action == "delete-network":
        delete("networks", machine_id)
    elif action == "create-machine":
        behaviour = get("zones", where) or {}
        _log("create", machine=machine_id, zone=where)
        refuse = behaviour.get("times", 0) > 0
        if refuse:
            put("zones", {**behaviour, "times": behaviour["times"] - 1})
        if not refuse or behaviour.get("leak"):
            put("machines", {"id": machine_id, "zone": where, "labels": {STACK_LABEL: name}})
        if refuse:
            print(behaviour["refuse"], file=sys.stderr)
            return 1
    elif action == "delete-machine":
        _log("delete", machine=machine_id, zone=where)
        delete("machines", machine_id)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
