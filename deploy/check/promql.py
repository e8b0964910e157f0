#!/usr/bin/env python3
"""Collects the PromQL that is not in a rules file, so promtool can parse it.

Sources: every target `expr` of the Grafana dashboards (and the selector
inside each `label_values(...)` variable query), and every query of the
```promql blocks of docs/metrics.md. Grafana's variables are replaced by
values of the same type first ($__rate_interval -> 5m, $instance -> .*); a
`$` left over is an error. The result is written as a Prometheus rules file
of recording rules named after their source (`dashboard:panel_<id>_<refId>`,
`doc:query_<n>`), which `promtool check rules` parses expression by
expression.

Usage: promql.py REPO_ROOT OUT.yml. Also checks the dashboards' structure
(unique panel ids, a datasource on every query, grid inside 24 columns).
"""

import json
import pathlib
import re
import sys

import yaml

GRAFANA_VARS = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "${datasource}": "prometheus",
    "$instance": ".*",
}


def substitute(expr: str, where: str, errors: list) -> str:
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    if "$" in expr:
        errors.append(f"{where}: unknown Grafana variable in {expr!r}")
    return expr


def dashboard_queries(path: pathlib.Path, errors: list):
    dash = json.loads(path.read_text())
    name = path.stem.replace("-", "_")
    for key in ("uid", "title", "panels", "templating"):
        if key not in dash:
            errors.append(f"{path}: no {key}")
    variables = {v["name"] for v in dash.get("templating", {}).get("list", [])}
    if "datasource" not in variables:
        errors.append(f"{path}: no `datasource` variable")
    ids = set()
    for panel in dash.get("panels", []):
        pid = panel.get("id")
        where = f"{path.name} panel {pid} ({panel.get('title')!r})"
        if pid in ids:
            errors.append(f"{where}: duplicate id")
        ids.add(pid)
        grid = panel.get("gridPos", {})
        if not {"h", "w", "x", "y"} <= grid.keys() or grid["x"] + grid["w"] > 24:
            errors.append(f"{where}: bad gridPos {grid}")
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets") or []
        if not targets:
            errors.append(f"{where}: no query")
        for target in targets:
            if target.get("datasource", {}).get("uid") != "${datasource}":
                errors.append(f"{where}: query {target.get('refId')} does not use the datasource variable")
            expr = target.get("expr", "")
            if not expr.strip():
                errors.append(f"{where}: query {target.get('refId')} is empty")
                continue
            yield f"{name}:panel_{pid}_{target['refId']}", substitute(expr, where, errors)
    for var in dash.get("templating", {}).get("list", []):
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if var.get("type") == "query" and isinstance(query, str):
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query.strip())
            if not m:
                errors.append(f"{path.name} variable {var['name']}: not label_values(selector, label): {query!r}")
                continue
            yield f"{name}:variable_{var['name']}", substitute(m.group(1), f"variable {var['name']}", errors)


def doc_queries(path: pathlib.Path):
    n = 0
    for block in re.findall(r"```promql\n(.*?)```", path.read_text(), re.S):
        current: list[str] = []
        for line in block.splitlines() + [""]:
            if line.startswith((" ", "\t")) and current:
                current.append(line.strip())
                continue
            if current:
                n += 1
                yield f"doc:query_{n}", " ".join(current)
                current = []
            if line.strip() and not line.lstrip().startswith("#"):
                current = [line.strip()]


def main() -> int:
    root = pathlib.Path(sys.argv[1]).resolve()
    out = pathlib.Path(sys.argv[2])
    errors: list[str] = []
    rules = []
    for path in sorted((root / "deploy/grafana").rglob("*.json")):
        rules += [{"record": r, "expr": e} for r, e in dashboard_queries(path, errors)]
    dash_count = len(rules)
    rules += [{"record": r, "expr": e} for r, e in doc_queries(root / "docs/metrics.md")]
    out.write_text(yaml.safe_dump({"groups": [{"name": "extracted", "rules": rules}]}, sort_keys=False, width=1000))
    for error in errors:
        print(f"promql: FAIL {error}")
    print(f"promql: {dash_count} dashboard queries and {len(rules) - dash_count} docs/metrics.md queries written to {out.name}")
    return 1 if errors or not rules else 0


if __name__ == "__main__":
    sys.exit(main())
