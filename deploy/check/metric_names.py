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
4. The code's type and labels of each name (read from the `counter!`,
   `gauge!`, `histogram!` and `describe_*!` calls of its crate's `src/`)
   are the ones docs/metrics.md states, and the table of README.md's
   "Metrics" section lists exactly the names the code defines, each with
   the code's type and labels, a meaning, and (when the table has an
   "exported by" column) the process that exports it.

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
# `const NAME: &str = "ringcache_...";` (the value may be on the next line).
CONST = re.compile(r"\bconst\s+([A-Z][A-Z0-9_]*)\s*:\s*&(?:'static\s+)?str\s*=\s*\"(ringcache_[a-z0-9_]+)\"")
# A `metrics` macro call, opening parenthesis included.
MACRO = re.compile(r"(?<![A-Za-z0-9_])(describe_)?(counter|gauge|histogram)!\s*\(")
LABEL_KEY = re.compile(r'"([a-z_][a-z0-9_]*)"\s*=>')
# Who exports the metrics a crate defines: the README's "exported by" cell
# of each of its names must say so.
CRATE_EXPORTER = {"server": "node", "client": "client"}


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


def strip_rust(text: str) -> str:
    """The code of a Rust file without its line comments and without a
    trailing `#[cfg(test)] mod tests` (tests may record made-up series)."""
    at = re.search(r"^#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text, re.M)
    if at:
        text = text[: at.start()]
    return "\n".join("" if line.lstrip().startswith("//") else line for line in text.splitlines())


def call_args(text: str, start: int) -> str:
    """The arguments of the call whose `(` ends just before `start`."""
    depth, i, in_str = 1, start, False
    while i < len(text) and depth:
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        i += 1
    return text[start : i - 1]


def code_shapes(root: pathlib.Path, notes: list[str]):
    """name -> {"kinds", "labels", "recorded", "crate"} from every `metrics`
    macro call of each crate that has a `src/metrics.rs` (test modules
    left out)."""
    shapes = {}
    for metrics_rs in sorted(root.glob("*/src/**/metrics.rs")):
        crate = metrics_rs.relative_to(root).parts[0]
        files = [
            path
            for path in sorted((root / crate / "src").rglob("*.rs"))
            if path.name != "tests.rs" and "tests" not in path.relative_to(root / crate / "src").parts
        ]
        consts = {}
        for path in files:
            consts.update(CONST.findall(path.read_text()))
        for path in files:
            text = strip_rust(path.read_text())
            for m in MACRO.finditer(text):
                describe, kind = m.group(1), m.group(2)
                args = call_args(text, m.end())
                first = args.split(",", 1)[0].strip()
                literal = re.fullmatch(r'"(ringcache_[a-z0-9_]+)"', first)
                name = literal.group(1) if literal else consts.get(first.rsplit("::", 1)[-1])
                if name is None:
                    line = text.count("\n", 0, m.start()) + 1
                    notes.append(f"{path.relative_to(root)}:{line}: {kind}!({first}, ...) names no known metric")
                    continue
                shape = shapes.setdefault(name, {"kinds": set(), "labels": set(), "recorded": False, "crate": crate})
                shape["kinds"].add(kind)
                if not describe:
                    shape["recorded"] = True
                    shape["labels"].update(LABEL_KEY.findall(args))
    return shapes


def label_set(cell: str) -> set:
    return set(re.findall(r"`([a-z_][a-z0-9_]*)`", cell))


def check_shape(where: str, name: str, kind: str, labels: set, shapes, errors) -> None:
    """`kind` and `labels` as a table states them, against the code."""
    shape = shapes.get(name)
    if shape is None or len(shape["kinds"]) != 1:
        return  # reported once, by check_code_shapes
    (code_kind,) = shape["kinds"]
    if kind != code_kind:
        errors.append(f"{where}: {name} is a {kind} here but a {code_kind} in {shape['crate']}/src")
    if labels != shape["labels"]:
        said = ", ".join(sorted(labels)) or "none"
        real = ", ".join(sorted(shape["labels"])) or "none"
        errors.append(f"{where}: {name} has labels {said} here but {real} in {shape['crate']}/src")


def check_code_shapes(in_code, shapes, errors) -> None:
    for name, path in in_code.items():
        shape = shapes.get(name)
        if shape is None or not shape["recorded"]:
            errors.append(f"{path}: {name} is defined but no counter!/gauge!/histogram! call records it")
        elif len(shape["kinds"]) > 1:
            errors.append(f"{path}: {name} is used as {' and '.join(sorted(shape['kinds']))}")


def readme_table(readme: pathlib.Path):
    """Rows of the tables in README.md's "## Metrics" section:
    name -> (cells by lower-case column title, line number)."""
    rows, duplicates = {}, []
    lines = readme.read_text().splitlines()
    inside, columns = False, None
    for number, line in enumerate(lines, 1):
        if line.startswith("## "):
            inside = line.strip() == "## Metrics"
            columns = None
            continue
        if not inside:
            continue
        if not line.startswith("|"):
            columns = None  # a table ends at its first other line
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if all(re.fullmatch(r":?-+:?", c) for c in cells):
            continue
        name = re.fullmatch(r"`(ringcache_[a-z0-9_]+)`", cells[0])
        if not name:
            columns = [c.lower() for c in cells]
            continue
        if columns is None:
            continue
        if name.group(1) in rows:
            duplicates.append((name.group(1), number))
        rows[name.group(1)] = (dict(zip(columns, cells)), number)
    return rows, duplicates


def check_readme(root: pathlib.Path, in_code, shapes, errors) -> int:
    rows, duplicates = readme_table(root / "README.md")
    if not rows:
        errors.append("README.md: no metric table in the \"## Metrics\" section")
        return 0
    for name, number in duplicates:
        errors.append(f"README.md:{number}: {name} is listed twice")
    for name, path in in_code.items():
        if name not in rows:
            errors.append(f"{path}: {name} is not in README.md's Metrics table: add a row for it")
    for name, (cells, number) in rows.items():
        where = f"README.md:{number}"
        if name not in in_code:
            errors.append(f"{where}: {name} is listed but no */src/metrics.rs defines it")
            continue
        meaning = cells.get("meaning", "")
        if not meaning:
            errors.append(f"{where}: {name} has no meaning")
        elif re.search(r"\bplanned\b", meaning, re.I):
            errors.append(f"{where}: {name} is exported, but its meaning says it is planned")
        check_shape(where, name, cells.get("type", ""), label_set(cells.get("labels", "")), shapes, errors)
        exporter = CRATE_EXPORTER.get(shapes.get(name, {}).get("crate", ""))
        if "exported by" in cells and exporter and not re.search(rf"\b{exporter}\b", cells["exported by"]):
            errors.append(f"{where}: {name} comes from {in_code[name]}: its \"exported by\" must say {exporter}")
    return len(rows)


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

    notes: list[str] = []
    shapes = code_shapes(root, notes)
    check_code_shapes(in_code, shapes, errors)
    for name, (kind, labels, _state, line) in rows.items():
        if name in in_code:
            check_shape(f"docs/metrics.md:{line}", name, kind, label_set(labels), shapes, errors)
    in_readme = check_readme(root, in_code, shapes, errors)

    for note in notes:
        print(f"metric-names: note: {note}")
    for error in errors:
        print(f"metric-names: FAIL {error}")
    states = {s: sum(1 for r in rows.values() if r[2] == s) for s in sorted(STATES)}
    print(
        f"metric-names: {len(rows)} names in the contract ({', '.join(f'{v} {k}' for k, v in states.items())}); "
        f"{len(in_code)} defined in code; {len(used)} used by deploy/ and the example queries; "
        f"{in_readme} in README.md's table (types and labels held to the code)"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
