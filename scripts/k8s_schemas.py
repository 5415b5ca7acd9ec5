#!/usr/bin/env python3
"""Kubernetes JSON schemas for kubeconform, made offline from the API's own OpenAPI document.

kubeconform validates each manifest against one JSON schema per kind, which it normally downloads
from a schema repository on the web. Here the source is the OpenAPI (Swagger 2) document that the
Kubernetes source tree ships as `api/openapi-spec/swagger.json` (the `k8s.io/kubernetes` Go module,
fetched by `scripts/k8s-tools` through the Go module proxy). For every definition that names a
group-version-kind this writes `<kind>-<group prefix>-<version>.json` (kubeconform's
`{{ .ResourceKind }}{{ .KindSuffix }}`), self-contained: the definitions it reaches are copied into
its own `definitions`, so references stay local and recursive types need no inlining.

The schemas are strict, as the API server is with `kubectl apply --validate=strict`:
- every object with declared properties refuses other keys (a misspelt field fails);
- `apiVersion` and `kind` must be the ones the file is for;
- an int-or-string field takes either, a quantity a string or a number (as YAML writes `cpu: 1`).

    python3 scripts/k8s_schemas.py SWAGGER_JSON OUTPUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REF = "#/definitions/"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = {"oneOf": [{"type": "string"}, {"type": "integer"}]}


def file_name(group: str, version: str, kind: str) -> str:
    """kubeconform's file name for a kind: `deployment-apps-v1.json`, `service-v1.json`,
    `ingress-networking-v1.json` (only the group's first label)."""
    suffix = f"-{group.split('.')[0].lower()}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix}.json"


def strict(node: Any, name: str | None = None) -> Any:
    """A copy of one OpenAPI schema node as a strict draft-4 JSON schema node."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    if name == QUANTITY:
        return {"description": node.get("description", ""), "oneOf": [{"type": "string"}, {"type": "number"}]}
    if node.get("format") == "int-or-string":
        return {"description": node.get("description", ""), **INT_OR_STRING}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            continue  # extensions, not validation keywords
        if key == "properties":
            out[key] = {prop: strict(schema) for prop, schema in value.items()}
        else:
            out[key] = strict(value)
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def references(node: Any) -> set[str]:
    """The definition names one node refers to, directly."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF):
            found.add(ref.removeprefix(REF))
        for value in node.values():
            found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


def reachable(definitions: dict[str, Any], root: str) -> list[str]:
    """Every definition `root` reaches through references, itself excluded, sorted."""
    seen: set[str] = set()
    todo = [root]
    while todo:
        for name in references(definitions[todo.pop()]):
            if name not in seen and name != root:
                if name not in definitions:
                    raise SystemExit(f"k8s_schemas: {root} refers to {name}, which the document lacks")
                seen.add(name)
                todo.append(name)
    return sorted(seen)


def schema_for(definitions: dict[str, Any], name: str, gvk: dict[str, str]) -> dict[str, Any]:
    group, version, kind = gvk["group"], gvk["version"], gvk["kind"]
    schema = strict(definitions[name], name)
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {"enum": [f"{group}/{version}" if group else version]}
    properties["kind"] = {"enum": [kind]}
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind"})
    schema["additionalProperties"] = False
    schema["definitions"] = {dep: strict(definitions[dep], dep) for dep in reachable(definitions, name)}
    return {"$schema": "http://json-schema.org/draft-04/schema#", **schema}


def generate(swagger: Path, output: Path) -> int:
    """Write one schema per group-version-kind of `swagger` into `output`; return how many."""
    document = json.loads(swagger.read_text())
    definitions: dict[str, Any] = document.get("definitions") or {}
    if not definitions:
        raise SystemExit(f"k8s_schemas: {swagger} has no definitions (not a Kubernetes OpenAPI v2 document?)")
    output.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, definition in sorted(definitions.items()):
        kinds = definition.get("x-kubernetes-group-version-kind") or []
        if len(kinds) != 1 or "properties" not in definition:
            continue  # shared types (DeleteOptions, WatchEvent) name many kinds and are never applied
        (gvk,) = kinds
        path = output / file_name(gvk["group"], gvk["version"], gvk["kind"])
        path.write_text(json.dumps(schema_for(definitions, name, gvk), sort_keys=True))
        written += 1
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    swagger, output = Path(argv[0]), Path(argv[1])
    if not swagger.is_file():
        print(f"k8s_schemas: {swagger}: not found", file=sys.stderr)
        return 2
    count = generate(swagger, output)
    print(f"k8s_schemas: {count} schemas in {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
