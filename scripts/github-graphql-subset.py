#!/usr/bin/env python3
"""Regenerate tests/forge_server/specs/github.graphql, the subset of GitHub's GraphQL schema
the fake forge server validates queries against (the GraphQL sibling of forge-spec-subset.py).

GitHub's public schema is 1.2 MB of SDL and ``PullRequest`` alone implements thirteen
interfaces, so the subset is cut by *fields*, not just by types: every object or interface type
the driver's queries reach is listed in :data:`SELECT` with the fields kept (a query selecting
any other field fails validation, as it should: add the field here first). Input objects, enums
and scalars reached from a kept field are kept whole, transitively, so arguments are checked
exactly as GitHub checks them. Interfaces are kept only where listed; a kept type that
implements one gets the interface's kept fields. The result is self-contained: graphql-core's
``build_schema`` accepts it.

Source (pinned): npm ``@octokit/graphql-schema@15.26.1`` (MIT), ``schema.graphql`` — GitHub's
public schema as octokit publishes it — fetched with ``npm pack`` into a temporary directory
(or ``--tgz`` for a tarball already on disk).

Usage: ``scripts/github-graphql-subset.py [--tgz T] [--out FILE]``
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from npm_package import read_members

PACKAGE = "@octokit/graphql-schema@15.26.1"
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "forge_server" / "specs" / "github.graphql"

# Object and interface types, with the fields kept. Roots first.
SELECT: dict[str, set[str]] = {
    "Query": {"node"},
    "Mutation": {"enablePullRequestAutoMerge"},
    "Node": {"id"},
    "EnablePullRequestAutoMergePayload": {"clientMutationId", "pullRequest"},
    "PullRequest": {
        "id",
        "number",
        "url",
        "state",
        "headRefOid",
        "mergeStateStatus",
        "autoMergeRequest",
    },
    "AutoMergeRequest": {"mergeMethod", "enabledAt", "pullRequest"},
}
BUILTIN = {"String", "Int", "Float", "Boolean", "ID"}


def _named(type_node: Any) -> str:
    while not hasattr(type_node, "name"):
        type_node = type_node.type  # NonNull / List wrappers
    return str(type_node.name.value)


def _directives(node: Any) -> set[str]:
    """Names of the directives used on a node and its fields, arguments and values."""
    used: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        used |= {d.name.value for d in getattr(item, "directives", None) or ()}
        for key in ("fields", "arguments", "values"):
            stack.extend(getattr(item, key, None) or ())
    return used


def subset(sdl: str) -> str:
    """The SDL of the types reachable from ``SELECT``'s roots, pruned to its fields."""
    from graphql import build_schema, parse, print_ast
    from graphql.language import (
        DirectiveDefinitionNode,
        DocumentNode,
        InputObjectTypeDefinitionNode,
        InterfaceTypeDefinitionNode,
        ObjectTypeDefinitionNode,
        UnionTypeDefinitionNode,
    )

    document = parse(sdl, no_location=True)
    types = {d.name.value: d for d in document.definitions if hasattr(d, "name")}
    directive_defs = {
        d.name.value: d for d in document.definitions if isinstance(d, DirectiveDefinitionNode)
    }
    kept: dict[str, Any] = {}
    todo = [("Query", "root"), ("Mutation", "root")]
    while todo:
        name, via = todo.pop()
        if name in kept or name in BUILTIN:
            continue
        node = types.get(name)
        if node is None:
            raise SystemExit(f"{name} (reached from {via}) is not in {PACKAGE}")
        if isinstance(node, UnionTypeDefinitionNode):
            raise SystemExit(f"union {name} (reached from {via}): select fields avoiding it")
        if isinstance(node, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
            if name not in SELECT:
                raise SystemExit(
                    f"{name} is reached from {via}: add it to SELECT with the fields queried"
                )
            interfaces = [i for i in node.interfaces or () if i.name.value in SELECT]
            wanted = set(SELECT[name])
            for interface in interfaces:
                wanted |= SELECT[interface.name.value]
            fields = [f for f in node.fields or () if f.name.value in wanted]
            missing = wanted - {f.name.value for f in fields}
            if missing:
                raise SystemExit(f"{name} has no field(s) {sorted(missing)} in {PACKAGE}")
            node = dataclasses.replace(node, fields=tuple(fields), interfaces=tuple(interfaces))
            todo += [(i.name.value, name) for i in interfaces]
            for field in fields:
                where = f"{name}.{field.name.value}"
                todo.append((_named(field.type), where))
                todo += [(_named(arg.type), where) for arg in field.arguments or ()]
        elif isinstance(node, InputObjectTypeDefinitionNode):
            todo += [(_named(f.type), name) for f in node.fields or ()]
        kept[name] = node  # enums and scalars: whole
    directives = set().union(*(_directives(node) for node in kept.values()))
    directives -= {"deprecated", "specifiedBy", "include", "skip", "oneOf"}  # built in
    extra = [directive_defs[d] for d in sorted(directives)]
    for directive in extra:
        for arg in directive.arguments or ():
            if _named(arg.type) not in BUILTIN:
                raise SystemExit(f"@{directive.name.value} takes a non-builtin argument type")
    order = {name: i for i, name in enumerate(SELECT)}
    definitions = extra + sorted(
        kept.values(), key=lambda n: (order.get(n.name.value, 99), n.name.value)
    )
    out = print_ast(DocumentNode(definitions=tuple(definitions))) + "\n"
    build_schema(out)  # self-contained, or this raises
    return out


def header(licence: str) -> str:
    first = licence.strip().splitlines()[0]
    return (
        f"# Subset of GitHub's public GraphQL schema: npm {PACKAGE}, schema.graphql.\n"
        f"# Licence (the package's LICENSE.md): {first}\n"
        "# Generated by scripts/github-graphql-subset.py: the types and fields cmlinfra's GitHub\n"
        "# driver queries, pruned transitively. Do not edit by hand.\n\n"
    )


def fetch(tgz: Path | None) -> tuple[str, str]:
    """(schema.graphql, LICENSE.md) from the npm package."""
    schema, licence = read_members(PACKAGE, ["package/schema.graphql", "package/LICENSE.md"], tgz)
    return schema.decode(), licence.decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tgz", type=Path, help="an npm pack tarball of " + PACKAGE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    sdl, licence = fetch(args.tgz)
    args.out.write_text(header(licence) + subset(sdl))
    shown = args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out
    print(f"wrote {shown}")


if __name__ == "__main__":
    main()
