#!/usr/bin/env python3
"""The metric-name contract of docs/metrics.md, checked three ways.

1. Every row of the contract follows STYLE.md §8: `ringcache_*`, counters and
   only counters end in `_total`, histograms carry a unit, labels come from
   the allowed set, the state is exported/planned/renamed.
2. Every name a crate's `src/metrics.rs` defines is in the contract, and every
   row marked `exported` is defined in some `metrics.rs` (the contract does
   not claim what the code lacks). A `planned` name found in code is only
   reported: flip it to `exported` in docs/metrics.md.
3. Every `ringcache_*` name that deploy/ uses (alert rules and their tests,
   the dashboard) and every name in docs/metrics.md's example queries is in
   the contract, histogram suffixes (_bucket, _sum, _count) stripped.

Usage: metric_names.py REPO_ROOT. Prints a summary; exits 1 on a violation.
"""

import pathlib
import re
import sys

ROW = re.compile(r"^\|\s*`(ringcache_[a-z0-9_]+)`\s*\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|")
NAME = re.compile(r"\bringcache_[a-z0-9_]+\b")
CODE_NAME = re.compile(r'"(ringcache_[a-z0-9_]+)"')
TYPES = {"counter", "gauge", "histogram"}
STATES = {"exported", "planned", "renamed"}
LABELS = {"command", "status", "node", "kind"}
UNITS = ("_seconds", "_bytes")


def contract(doc: pathlib.Path):
    rows = {}
    for number, line in enumerate(doc.read_text().splitlines(), 1):
        m = ROW.match(line)
        if m:
            name, kind, labels, _unit, state = (g.strip() for g in m.groups())
            rows[name] = (kind, labels, state.strip("*"), number)
    return rows


def check_style(rows, errors):
    for name, (kind, labels, state, line) in rows.items():
        where = f"docs/metrics.md:{line}: {name}"
        if kind not in TYPES:
            errors.append(f"{where}: type {kind!r} is not one of {sorted(TYPES)}")
        if state not in STATES:
            errors.append(f"{where}: state {state!r} is not one of {sorted(STATES)}")
        if kind == "counter" and not name.endswith("_total"):
            errors.append(f"{where}: a counter's name must end in _total")
        if kind != "counter" and name.endswith("_total"):
            errors.append(f"{where}: only counters end in _total")
        if kind == "histogram" and not name.endswith(UNITS):
            errors.append(f"{where}: a histogram's name must end in a unit {UNITS}")
        used = set(re.findall(r"`([a-z_]+)`", labels))
        if labels not in ("—", "-", "") and not used:
            errors.append(f"{where}: labels column {labels!r} names no `label`")
        if used - LABELS:
            errors.append(f"{where}: labels {sorted(used - LABELS)} are not in {sorted(LABELS)}")
        if kind == "histogram" and name.startswith("ringcache_client_") and "node" not in used:
            errors.append(f"{where}: client histograms are per node")


def code_names(root: pathlib.Path):
    found = {}
    for path in sorted(root.glob("*/src/**/metrics.rs")):
        for name in CODE_NAME.findall(path.read_text()):
            found.setdefault(name, path.relative_to(root))
    return found


def base(name: str, rows) -> str:
    if name in rows:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and rows.get(name[: -len(suffix)], ("",))[0] == "histogram":
            return name[: -len(suffix)]
    return name


def deploy_names(root: pathlib.Path):
    used = {}
    files = [
        *sorted((root / "deploy/prometheus").glob("*.yml")),
        *sorted((root / "deploy/grafana").rglob("*.json")),
    ]
    for path in files:
        for name in NAME.findall(path.read_text()):
            used.setdefault(name, path.relative_to(root))
    # The example queries of the contract itself (```promql blocks).
    doc = (root / "docs/metrics.md").read_text()
    for block in re.findall(r"```promql\n(.*?)```", doc, re.S):
        for name in NAME.findall(block):
            used.setdefault(name, "docs/metrics.md (queries)")
    return used


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    rows = contract(root / "docs/metrics.md")
    errors: list[str] = []
    if not rows:
        errors.append("docs/metrics.md: no metric rows found")
    check_style(rows, errors)

    in_code = code_names(root)
    early = []
    for name, path in in_code.items():
        if name not in rows:
            errors.append(f"{path}: {name} is not in docs/metrics.md: add a row for it")
        elif rows[name][2] == "planned":
            early.append(name)
    if early:
        print(
            f"metric-names: note: {len(early)} names marked planned are already defined in code "
            f"(flip them to exported in docs/metrics.md when they ship): {', '.join(early)}"
        )
    for name, (_kind, _labels, state, line) in rows.items():
        if state == "exported" and name not in in_code:
            errors.append(f"docs/metrics.md:{line}: {name} is marked exported but no */src/metrics.rs defines it")

    used = deploy_names(root)
    for name, path in used.items():
        if base(name, rows) not in rows:
            errors.append(f"{path}: uses {name}, which docs/metrics.md does not list")

    for error in errors:
        print(f"metric-names: FAIL {error}")
    states = {s: sum(1 for r in rows.values() if r[2] == s) for s in sorted(STATES)}
    print(
        f"metric-names: {len(rows)} names in the contract ({', '.join(f'{v} {k}' for k, v in states.items())}); "
        f"{len(in_code)} defined in code; {len(used)} used by deploy/ and the example queries"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
