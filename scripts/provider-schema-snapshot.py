#!/usr/bin/env python3
"""Regenerate a provider schema snapshot from the provider's cdktn bindings wheel
(``tests/clouds/<cloud>/data/<provider>-provider-schema.json``).

Why: the AWS, Google, azurerm and Kubernetes Terraform providers cannot be downloaded on these
machines, so ``terraform validate`` cannot check our modules for those clouds. The prebuilt
cdktn bindings for each provider are on PyPI, and their generated JavaScript (inside the jsii
tarball the wheel carries) spells out, for every resource and data source, each argument's
Terraform name, whether it is a block or an attribute, its nested blocks, and the computed
attributes that can be referenced. This script extracts that for the ``<provider>_*`` types
our modules use (plus the provider block) into a small committed snapshot that
``tests/clouds/hclschema.py`` checks the modules against. Large types (``kubernetes_job_v1``)
keep their nested blocks in ``lib/<type>/index-structs/*.js``: those files are read too.

Usage (downloads the wheel into a temporary directory, never into a venv):

    python scripts/provider-schema-snapshot.py aws                     # the pinned version
    python scripts/provider-schema-snapshot.py google --wheel path.whl # a downloaded wheel
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Provider:
    """One Terraform provider: its cdktn bindings and where our modules and snapshot live."""

    name: str  # the type prefix: aws_instance -> aws
    source: str  # registry address
    package: str  # the cdktn bindings on PyPI
    version: str
    cloud: str  # terraform/modules/<cloud>, tests/clouds/<cloud>/data

    @property
    def modules(self) -> Path:
        return ROOT / "terraform" / "modules" / self.cloud

    @property
    def out(self) -> Path:
        return ROOT / "tests" / "clouds" / self.cloud / "data" / f"{self.name}-provider-schema.json"


PROVIDERS = {
    p.name: p
    for p in (
        Provider("aws", "hashicorp/aws", "cdktn-provider-aws", "25.8.1", "aws"),
        Provider("google", "hashicorp/google", "cdktn-provider-google", "21.1.0", "gcp"),
        Provider("azurerm", "hashicorp/azurerm", "cdktn-provider-azurerm", "18.9.0", "azure"),
        Provider(
            "kubernetes",
            "hashicorp/kubernetes",
            "cdktn-provider-kubernetes",
            "17.1.0",
            "kubernetes",
        ),
    )
}

# `name: { value: EXPR, isBlock: B, type: "T", storageClassType: "S", }` in *ToHclTerraform
ENTRY = re.compile(
    r"(\w+): \{\s*value: (.*?),\s*isBlock: (true|false),\s*type: \"(\w+)\",\s*"
    r"storageClassType: \"(\w+)\",\s*\}",
    re.S,
)
# a struct converter, called bare or through a sibling module (`index_1.`, `structs0_1.`),
# never cdktn's own (`cdktn.stringToHclTerraform`)
STRUCT_FN = re.compile(r"(?:(?<![.\w])|(?<=_1\.))([a-z]\w*)ToHclTerraform\b")
COMPUTED = re.compile(
    r"(?:get\w*Attribute|interpolationForAttribute)\('(\w+)'\)|\(this, \"(\w+)\", (?:true|false)\)"
)
# In index.d.ts: `{@link URL#snake_name Class#snake_name} */ readonly camelName?: type`
PROPERTY = re.compile(r"\{@link \S+#(\w+) \w+#\w+\}(?:(?!\*/).)*\*/\s*readonly (\w+)(\?)?:", re.S)
TYPE_USE = r'^\s*(resource|data)\s+"({prefix}_\w+)"'
MAIN_CLASS = re.compile(
    r"^class (\w+) extends cdktn\.Terraform(?:Resource|DataSource|Provider) \{", re.M
)


def used_types(provider: Provider) -> dict[str, set[str]]:
    """The ``<provider>_*`` resource and data source types our modules declare."""
    found: dict[str, set[str]] = {"resource": set(), "data": set()}
    pattern = re.compile(TYPE_USE.format(prefix=provider.name), re.M)
    for tf in sorted(provider.modules.rglob("*.tf")):
        for kind, name in pattern.findall(tf.read_text()):
            found[kind].add(name)
    return found


def lib_dir(provider: str, kind: str, type_name: str) -> str:
    """cdktn's directory for a type: aws_instance -> instance, data aws_ami -> data-aws-ami."""
    stem = type_name.removeprefix(f"{provider}_").replace("_", "-")
    return f"data-{provider}-{stem}" if kind == "data" else stem


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


def load_wheel(wheel: Path, provider: Provider, wanted: dict[str, set[str]]) -> dict[str, Any]:
    """Read only the needed types' .js/.d.ts files from the jsii tarball inside the wheel; a
    type's ``index-structs/*`` files are appended to its ``index.*`` (where nested blocks of
    large types live)."""
    paths = {"provider": ("provider", provider.name)}
    for kind, names in wanted.items():
        for name in names:
            paths[lib_dir(provider.name, kind, name)] = (kind, name)
    sources: dict[str, dict[str, str]] = {}
    result: dict[str, Any] = {"provider": {}, "resource": {}, "data": {}}
    version = "unknown"
    with zipfile.ZipFile(wheel) as zf:
        tgz = next(n for n in zf.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(zf.read(tgz)), mode="r:gz") as tar:
            for member in tar:
                folder, _, file = member.name.removeprefix("package/lib/").partition("/")
                structs = file.startswith("index-structs/")
                suffix = ".d.ts" if file.endswith(".d.ts") else ".js"
                if folder not in paths or not (structs or file in ("index.js", "index.d.ts")):
                    continue
                if not file.endswith((".js", ".d.ts")):
                    continue
                fh = tar.extractfile(member)
                assert fh is not None
                key = f"index{suffix}"
                text = fh.read().decode()
                found = sources.setdefault(folder, {})
                # the type's own index first (its main class is found as the last one there)
                before = found.get(key, "")
                found[key] = before + "\n" + text if structs else text + before
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
        "package": f"{provider.package}=={wheel.name.split('-')[1]}",
        "provider": provider.source,
        "provider_version": version,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d"),
        "by": f"scripts/provider-schema-snapshot.py {provider.name}",
    }
    for kind in ("resource", "data"):
        result[kind] = dict(sorted(result[kind].items()))
    return result


def download(provider: Provider, dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest),
         f"{provider.package}=={provider.version}"],
        check=True,
    )  # fmt: skip
    return next(dest.glob("*.whl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("provider", choices=sorted(PROVIDERS), help="the provider's type prefix")
    parser.add_argument("--wheel", type=Path, help="an already downloaded cdktn-provider-* wheel")
    parser.add_argument("--out", type=Path, help="default tests/clouds/<cloud>/data/...")
    args = parser.parse_args()
    provider = PROVIDERS[args.provider]
    args.out = args.out or provider.out
    wanted = used_types(provider)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download(provider, Path(tmp))
        snapshot = load_wheel(wheel, provider, wanted)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(snapshot, indent=1, sort_keys=False) + "\n")
    count = len(snapshot["resource"]) + len(snapshot["data"])
    print(f"wrote {args.out}: {count} types, {snapshot['source']}")


if __name__ == "__main__":
    main()
