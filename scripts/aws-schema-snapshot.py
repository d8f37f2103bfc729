#!/usr/bin/env python3
"""Regenerate tests/clouds/aws/data/aws-provider-schema.json from the cdktn-provider-aws wheel.

Why: the AWS Terraform provider cannot be downloaded on these machines, so ``terraform
validate`` cannot check our AWS modules. The prebuilt cdktn bindings for the provider are on
PyPI, and their generated JavaScript (inside the jsii tarball the wheel carries) spells out,
for every resource and data source, each argument's Terraform name, whether it is a block or
an attribute, its nested blocks, and the computed attributes that can be referenced. This
script extracts that for the ``aws_*`` types our modules use (plus the provider block) into a
small committed snapshot that ``tests/clouds/aws/test_schema.py`` checks the modules against.

Usage (downloads the ~70 MB wheel into a temporary directory, never into a venv):

    python scripts/aws-schema-snapshot.py                     # pinned version below
    python scripts/aws-schema-snapshot.py --wheel path/to.whl # an already downloaded wheel
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODULES = ROOT / "terraform" / "modules" / "aws"
OUT = ROOT / "tests" / "clouds" / "aws" / "data" / "aws-provider-schema.json"
PACKAGE = "cdktn-provider-aws"
VERSION = "25.8.1"

# `name: { value: EXPR, isBlock: B, type: "T", storageClassType: "S", }` in *ToHclTerraform
ENTRY = re.compile(
    r"(\w+): \{\s*value: (.*?),\s*isBlock: (true|false),\s*type: \"(\w+)\",\s*"
    r"storageClassType: \"(\w+)\",\s*\}",
    re.S,
)
STRUCT_FN = re.compile(r"(?<![.\w])([a-z]\w*)ToHclTerraform\b")
COMPUTED = re.compile(
    r"(?:get\w*Attribute|interpolationForAttribute)\('(\w+)'\)|\(this, \"(\w+)\", (?:true|false)\)"
)
# In index.d.ts: `{@link URL#snake_name Class#snake_name} */ readonly camelName?: type`
PROPERTY = re.compile(r"\{@link \S+#(\w+) \w+#\w+\}(?:(?!\*/).)*\*/\s*readonly (\w+)(\?)?:", re.S)
TYPE_USE = re.compile(r'^\s*(resource|data)\s+"(aws_\w+)"', re.M)
MAIN_CLASS = re.compile(
    r"^class (\w+) extends cdktn\.Terraform(?:Resource|DataSource|Provider) \{", re.M
)


def used_types(modules: Path) -> dict[str, set[str]]:
    """The ``aws_*`` resource and data source types our modules declare."""
    found: dict[str, set[str]] = {"resource": set(), "data": set()}
    for tf in sorted(modules.rglob("*.tf")):
        for kind, name in TYPE_USE.findall(tf.read_text()):
            found[kind].add(name)
    return found


def lib_dir(kind: str, type_name: str) -> str:
    """cdktn's directory for a type: aws_instance -> instance, data aws_ami -> data-aws-ami."""
    stem = type_name.removeprefix("aws_").replace("_", "-")
    return f"data-aws-{stem}" if kind == "data" else stem


def function_body(js: str, name: str) -> str:
    start = js.index(f"function {name}ToHclTerraform(")
    end = js.index("\n}\n", start)
    return js[start:end]


def method_body(js: str, start: int, method: str) -> str:
    begin = js.index(f"    {method}() {{", start)
    end = js.index("\n    }\n", begin)
    return js[begin:end]


def required(dts: str, interface: str) -> list[str]:
    """Arguments the interface declares without ``?``: required by the provider."""
    start = dts.find(f"export interface {interface} ")
    if start < 0:
        return []
    body = dts[start : dts.index("\n}\n", start)]
    return sorted(snake for snake, _camel, optional in PROPERTY.findall(body) if not optional)


def parse_entries(js: str, dts: str, body: str, interface: str) -> dict[str, Any]:
    """Attributes, blocks and required names of one schema level, recursing into blocks."""
    attributes: dict[str, str] = {}
    blocks: dict[str, Any] = {}
    for name, value, is_block, kind, storage in ENTRY.findall(body):
        nested = STRUCT_FN.search(value)
        if is_block == "true":
            inner = {}
            if nested:
                fn = nested.group(1)
                inner = parse_entries(js, dts, function_body(js, fn), fn[0].upper() + fn[1:])
            blocks[name] = {"nesting": kind, **inner}
        else:
            attributes[name] = storage if kind == "simple" else f"{kind}:{storage}"
    return {
        "attributes": dict(sorted(attributes.items())),
        "blocks": dict(sorted(blocks.items())),
        "required": required(dts, interface),
    }


def parse_type(js: str, dts: str, expected: str | None) -> dict[str, Any]:
    """Schema of the resource, data source or provider class that ``js`` defines."""
    match = list(MAIN_CLASS.finditer(js))[-1]
    cls = js[match.start() :]
    if expected is not None and f'tfResourceType = "{expected}"' not in cls:
        raise SystemExit(f"{expected}: class {match.group(1)} is not it; update lib_dir()")
    body = method_body(js, match.start(), "synthesizeHclAttributes")
    schema = parse_entries(js, dts, body, f"{match.group(1)}Config")
    computed = {a or b for a, b in COMPUTED.findall(cls)}
    schema["computed"] = sorted(computed - set(schema["attributes"]) - set(schema["blocks"]))
    return schema


def provider_version(js: str) -> str:
    found = re.search(r"providerVersion: '([\d.]+)'", js)
    return found.group(1) if found else "unknown"


def load_wheel(wheel: Path, wanted: dict[str, set[str]]) -> dict[str, Any]:
    """Read only the needed index.js files from the jsii tarball inside the wheel."""
    paths = {"provider": ("provider", "aws")}
    for kind, names in wanted.items():
        for name in names:
            paths[lib_dir(kind, name)] = (kind, name)
    sources: dict[str, dict[str, str]] = {}
    result: dict[str, Any] = {"provider": {}, "resource": {}, "data": {}}
    version = "unknown"
    with zipfile.ZipFile(wheel) as zf:
        tgz = next(n for n in zf.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(zf.read(tgz)), mode="r:gz") as tar:
            for member in tar:
                folder, _, file = member.name.removeprefix("package/lib/").partition("/")
                if folder in paths and file in ("index.js", "index.d.ts"):
                    fh = tar.extractfile(member)
                    assert fh is not None
                    sources.setdefault(folder, {})[file] = fh.read().decode()
    missing = sorted(
        name for folder, (_, name) in paths.items() if len(sources.get(folder, {})) < 2
    )
    if missing:
        raise SystemExit(f"not in {wheel.name}: {missing}")
    for folder, (kind, name) in paths.items():
        js, dts = sources[folder]["index.js"], sources[folder]["index.d.ts"]
        if kind == "provider":
            result["provider"] = parse_type(js, dts, None)
        else:
            result[kind][name] = parse_type(js, dts, name)
            version = provider_version(js)
    result["source"] = {
        "package": f"{PACKAGE}=={wheel.name.split('-')[1]}",
        "provider": "hashicorp/aws",
        "provider_version": version,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d"),
        "by": "scripts/aws-schema-snapshot.py",
    }
    for kind in ("resource", "data"):
        result[kind] = dict(sorted(result[kind].items()))
    return result


def download(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest),
         f"{PACKAGE}=={VERSION}"],
        check=True,
    )  # fmt: skip
    return next(dest.glob("*.whl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="an already downloaded cdktn-provider-aws wheel")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    wanted = used_types(MODULES)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download(Path(tmp))
        snapshot = load_wheel(wheel, wanted)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(snapshot, indent=1, sort_keys=False) + "\n")
    count = len(snapshot["resource"]) + len(snapshot["data"])
    print(f"wrote {args.out}: {count} types, {snapshot['source']}")


if __name__ == "__main__":
    main()
