"""Prints the table of charts/switchboard/values.yaml (each value, its default and its `# --`
comment) for the chart's README; with --check, fails when the README's table differs."""

import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
VALUES = ROOT / "charts" / "switchboard" / "values.yaml"
README = ROOT / "charts" / "switchboard" / "README.md"
# Values documented as a whole: their keys are not listed one by one.
WHOLE = ("resources", "securityContext")


def table() -> str:
    values = yaml.safe_load(VALUES.read_text())
    stack: list[str] = []
    comment: list[str] = []
    rows = []
    for line in VALUES.read_text().split("\n"):
        s = line.strip()
        if s.startswith("#"):
            c = s.lstrip("#").strip()
            if c.startswith("-- "):
                comment = [c[3:]]
            elif comment:
                comment.append(c)
            continue
        if not s:
            comment = []
            continue
        m = re.match(r"^(\s*)([A-Za-z][A-Za-z0-9]*):\s*(.*)$", line)
        if not m:
            continue
        stack = stack[: len(m.group(1)) // 2] + [m.group(2)]
        if any(w in stack[:-1] for w in WHOLE):
            comment = []
            continue
        if m.group(3) or comment:
            v = values
            for k in stack:
                v = v[k]
            default = json.dumps(v)
            if not comment:
                sys.exit(f"values.yaml: {'.'.join(stack)} has no '# --' comment")
            rows.append(f"| `{'.'.join(stack)}` | `{default}` | {' '.join(comment)} |")
        comment = []
    return "| value | default | description |\n|---|---|---|\n" + "\n".join(rows) + "\n"


if __name__ == "__main__":
    t = table()
    if "--check" in sys.argv:
        if t not in README.read_text():
            print("charts/switchboard/README.md: the values table is stale: python3 scripts/values_table.py")
            sys.exit(1)
        print("ok   the chart README documents every value")
    else:
        print(t, end="")
