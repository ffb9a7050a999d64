"""Writes docs/crd-reference.md from crds/switchboard.dev.yaml (the generated CRDs), so the
reference says exactly what `kubectl explain` says. With --check, fails when the file is not
current (CI runs it so)."""

import json
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "crd-reference.md"


def rows(schema: dict, path: str, required: set[str], out: list[str]) -> None:
    for name, prop in (schema.get("properties") or {}).items():
        p = f"{path}.{name}" if path else name
        typ = prop.get("type", "object")
        if typ == "array":
            item = prop.get("items", {})
            typ = f"[]{item.get('type', 'object')}"
        extra = []
        if name in required:
            extra.append("required")
        if "default" in prop:
            extra.append(f"default `{json.dumps(prop['default'])}`")
        if "enum" in prop:
            extra.append("one of " + ", ".join(f"`{e}`" for e in prop["enum"]))
        if "pattern" in prop:
            extra.append(f"pattern `{prop['pattern']}`")
        for k in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"):
            if k in prop:
                v = prop[k]
                extra.append(f"{k} {int(v) if float(v).is_integer() else v}")
        desc = " ".join((prop.get("description") or "").split())
        if extra:
            desc = f"{desc} ({'; '.join(extra)})" if desc else f"({'; '.join(extra)})"
        desc = desc.replace("|", "\\|")
        out.append(f"| `{p}` | {typ} | {desc} |")
        if path.count(".") < 8:
            if typ == "object" or "properties" in prop:
                rows(prop, p, set(prop.get("required", [])), out)
            elif typ.startswith("[]") and "properties" in prop.get("items", {}):
                item = prop["items"]
                rows(item, f"{p}[]", set(item.get("required", [])), out)


def render() -> str:
    docs = [d for d in yaml.safe_load_all((ROOT / "crds" / "switchboard.dev.yaml").read_text()) if d]
    lines = [
        "# CRD reference",
        "",
        "Generated from `crds/switchboard.dev.yaml` by `scripts/crd_reference.py` (CI checks it is",
        "current). `kubectl explain <kind>.spec --recursive` shows the same text in a cluster.",
        "Every kind has group `switchboard.dev`, version `v1alpha1`, and is namespaced.",
        "",
    ]
    for crd in docs:
        spec = crd["spec"]
        kind = spec["names"]["kind"]
        version = spec["versions"][0]
        schema = version["schema"]["openAPIV3Schema"]
        lines += [f"## {kind}", ""]
        desc = " ".join((schema.get("description") or "").split())
        if desc:
            lines += [desc, ""]
        short = spec["names"].get("shortNames", [])
        lines += [
            f"Plural `{spec['names']['plural']}`" + (f", short names {', '.join(f'`{s}`' for s in short)}" if short else "") + ".",
            "",
        ]
        cols = version.get("additionalPrinterColumns", [])
        if cols:
            lines += ["`kubectl get` columns: " + ", ".join(c["name"] for c in cols) + ".", ""]
        for part in ("spec", "status"):
            if part in schema.get("properties", {}):
                lines += [f"### {kind}.{part}", "", "| field | type | description |", "|---|---|---|"]
                sub = schema["properties"][part]
                rows(sub, part, set(sub.get("required", [])), lines)
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            print("docs/crd-reference.md is stale: run python3 scripts/crd_reference.py")
            sys.exit(1)
        print("ok   docs/crd-reference.md is current")
    else:
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(text)
        print(f"wrote {OUT.relative_to(ROOT)}")
