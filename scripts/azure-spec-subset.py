#!/usr/bin/env python3
"""Regenerate the subset of Microsoft's Azure REST API specifications that the local Azure
Resource Manager fake (tests/clouds/azure/arm) validates every request and response against.

Source: ``Azure/azure-rest-api-specs`` (MIT, © Microsoft) at commit a977c730…, as kept in the
shared specs folder (``--source``, default ``../shared/specs/azure``; its SOURCE.md records
each file's git blob id). The full files are 1.3 MB because the Network files reference each
other; this keeps only the operations cmlinfra calls (``OPERATIONS``) and every definition and
parameter they reach through ``$ref``, file by file, so relative references still resolve
exactly as upstream. ``x-ms-examples`` (whose targets are not kept upstream either) are dropped.

Usage: ``scripts/azure-spec-subset.py [--source DIR] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import posixpath
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "clouds" / "azure" / "specs"
SOURCE = next(
    (p / "shared" / "specs" / "azure" for p in ROOT.parents if (p / "shared" / "specs").is_dir()),
    ROOT.parent / "shared" / "specs" / "azure",
)
COMMIT = "a977c730fda43ab19c05373b32c7159d6f265e9a"
COMPUTE = "specification/compute/resource-manager/Microsoft.Compute"
NETWORK = "specification/network/resource-manager/Microsoft.Network/stable/2024-01-01"
RESOURCES = "specification/resources/resource-manager/Microsoft.Resources/stable/2024-03-01"
# file -> operationIds the fake serves
OPERATIONS = {
    f"{COMPUTE}/ComputeRP/stable/2024-03-01/virtualMachine.json": [
        "VirtualMachines_CreateOrUpdate",
        "VirtualMachines_Get",
        "VirtualMachines_Delete",
        "VirtualMachines_List",
        "VirtualMachines_InstanceView",
        "VirtualMachines_PowerOff",
        "VirtualMachines_Deallocate",
        "VirtualMachines_Generalize",
        "VirtualMachines_RetrieveBootDiagnosticsData",
    ],
    f"{COMPUTE}/ComputeRP/stable/2024-03-01/computeRPCommon.json": ["Usage_List"],
    f"{COMPUTE}/Skus/stable/2021-07-01/skus.json": ["ResourceSkus_List"],
    f"{NETWORK}/virtualNetwork.json": ["VirtualNetworks_Get", "Subnets_Get"],
    f"{RESOURCES}/resources.json": [
        "ResourceGroups_CreateOrUpdate",
        "ResourceGroups_Get",
        "ResourceGroups_Delete",
        "ResourceGroups_List",
        "Resources_List",
        "Resources_GetById",
        "Resources_CreateOrUpdateById",
        "Resources_DeleteById",
    ],
}
KEEP = ("swagger", "info", "host", "schemes", "consumes", "produces", "securityDefinitions",
        "security")  # fmt: skip


class Closure:
    """The (file, JSON pointer) pairs reachable from the chosen operations."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.docs: dict[str, Any] = {}
        self.reached: set[tuple[str, str]] = set()

    def doc(self, name: str) -> Any:
        if name not in self.docs:
            self.docs[name] = json.loads((self.source / name).read_text())
        return self.docs[name]

    def walk(self, name: str, node: Any) -> None:
        stack = [node]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                for key, value in item.items():
                    if key == "x-ms-examples":
                        continue
                    if key == "$ref" and isinstance(value, str):
                        self.follow(name, value)
                    else:
                        stack.append(value)
            elif isinstance(item, list):
                stack.extend(item)

    def follow(self, name: str, ref: str) -> None:
        target, _, pointer = ref.partition("#")
        file = (
            posixpath.normpath(posixpath.join(posixpath.dirname(name), target)) if target else name
        )
        if (file, pointer) in self.reached:
            return
        self.reached.add((file, pointer))
        node = self.doc(file)
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        self.walk(file, node)


def subset(source: Path) -> dict[str, Any]:
    closure = Closure(source)
    chosen: dict[str, dict[str, Any]] = {}
    for name, operations in OPERATIONS.items():
        doc = closure.doc(name)
        wanted = set(operations)
        for path, item in doc.get("paths", {}).items():
            for method, op in item.items():
                if method != "parameters" and op.get("operationId") in wanted:
                    op = {k: v for k, v in op.items() if k != "x-ms-examples"}
                    entry = chosen.setdefault(name, {}).setdefault(path, {})
                    entry[method] = op
                    if "parameters" in item:
                        entry["parameters"] = item["parameters"]
                    closure.walk(name, entry)
                    wanted.discard(op["operationId"])
        if wanted:
            raise SystemExit(f"{name}: no operation {sorted(wanted)}")
    files: dict[str, Any] = {}
    for file in sorted({f for f, _ in closure.reached} | set(chosen)):
        doc = closure.doc(file)
        out: dict[str, Any] = {k: doc[k] for k in KEEP if k in doc}
        out["x-cmlinfra-subset"] = (
            f"Azure/azure-rest-api-specs@{COMMIT}:{file} (MIT, Copyright (c) Microsoft); "
            "only what scripts/azure-spec-subset.py selects"
        )
        if file in chosen:
            out["paths"] = chosen[file]
        for section in ("definitions", "parameters"):
            names = sorted(
                p.split("/")[2]
                for f, p in closure.reached
                if f == file and p.startswith(f"/{section}/")
            )
            if names:
                out[section] = {n: doc[section][n] for n in names}
        files[file] = out
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    files = subset(args.source)
    for name, doc in files.items():
        path = args.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1) + "\n")
    (args.out / "LICENSE").write_bytes((args.source / "LICENSE").read_bytes())
    total = sum((args.out / n).stat().st_size for n in files)
    print(f"wrote {len(files)} files ({total} bytes) under {args.out}")


if __name__ == "__main__":
    main()
