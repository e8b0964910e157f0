#!/usr/bin/env python3
"""Cross-file facts of deploy/ that no schema validator sees.

The same port, job name, memory size or node list is written in several
files; each assertion here names the files that must agree. Schemas are
checked elsewhere (kubernetes-validate, dclint, promtool, systemd-analyze).

Usage: consistency.py REPO_ROOT. Prints one line per group; exits 1 on a
mismatch.
"""

import pathlib
import re
import shlex
import sys

import yaml

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
DEPLOY = ROOT / "deploy"
errors: list[str] = []
JOBS = {"ringcache-node", "ringcache-proxy"}


def check(condition: bool, message: str) -> None:
    if not condition:
        errors.append(message)


def flag(args: list[str], name: str) -> str | None:
    """The value after `name` in an argument list."""
    for i, arg in enumerate(args[:-1]):
        if arg == name:
            return args[i + 1]
    return None


def mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(quantity))
    if not m or m.group(2) not in units:
        errors.append(f"cannot read the quantity {quantity!r}")
        return 0.0
    return float(m.group(1)) * units[m.group(2)]


def kubernetes() -> None:
    docs = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs[(doc["kind"], doc["metadata"]["name"])] = doc
    where = "deploy/kubernetes"
    namespace = "ringcache"
    check(("Namespace", namespace) in docs, f"{where}: no Namespace {namespace}")
    for (kind, name), doc in docs.items():
        if kind != "Namespace":
            check(doc["metadata"].get("namespace") == namespace, f"{where}: {kind}/{name} is not in namespace {namespace}")

    svc = docs[("Service", "ringcache-nodes")]["spec"]
    check(svc.get("clusterIP") == "None", f"{where}: the nodes' Service must be headless (clusterIP: None)")
    check(svc.get("publishNotReadyAddresses") is False, f"{where}: the nodes' Service must not publish unready nodes")
    svc_ports = {p["name"]: p["port"] for p in svc["ports"]}

    sts = docs[("StatefulSet", "ringcache-node")]["spec"]
    check(sts["serviceName"] == "ringcache-nodes", f"{where}: StatefulSet serviceName is not the headless Service")
    pod = sts["template"]["spec"]
    node = pod["containers"][0]
    args = node["args"]
    check(args[0] == "node", f"{where}: the StatefulSet does not run `ringcache node`")
    port, metrics = int(flag(args, "-p")), int(flag(args, "--metrics").rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in node["ports"]}
    check(ports.get("memcache") == port == svc_ports.get("memcache"), f"{where}: node -p, containerPort and Service port differ")
    check(ports.get("metrics") == metrics == svc_ports.get("metrics"), f"{where}: node --metrics, containerPort and Service port differ")
    memory = int(flag(args, "-m"))
    request = mebibytes(node["resources"]["requests"]["memory"])
    limit = mebibytes(node["resources"]["limits"]["memory"])
    check(request >= 1.2 * memory, f"{where}: memory request {request}Mi is not >= 1.2 x -m {memory}")
    check(request <= limit, f"{where}: memory request {request}Mi is above the limit {limit}Mi")
    check(limit >= 1.4 * memory, f"{where}: memory limit {limit}Mi is not >= 1.4 x -m {memory}")
    print(f"consistency: kubernetes node -m {memory} -> request {request:.0f}Mi, limit {limit:.0f}Mi; ports {port}/{metrics}")

    deploy = docs[("Deployment", "ringcache-proxy")]["spec"]["template"]["spec"]
    proxy = deploy["containers"][0]
    dns = flag(proxy["args"], "--dns")
    check(dns == f"ringcache-nodes.{namespace}.svc.cluster.local:{svc_ports['memcache']}",
          f"{where}: proxy --dns {dns} is not the nodes' headless Service")
    print(f"consistency: kubernetes proxy --dns {dns}")

    for name, spec, container in (("node", pod, node), ("proxy", deploy, proxy)):
        sc = container["securityContext"]
        check(spec["securityContext"].get("runAsNonRoot") is True, f"{where}: {name} pod may run as root")
        check(sc.get("readOnlyRootFilesystem") is True, f"{where}: {name} root filesystem is writable")
        check(sc.get("allowPrivilegeEscalation") is False, f"{where}: {name} allows privilege escalation")
        check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: {name} keeps capabilities")
        check("readinessProbe" in container and "livenessProbe" in container, f"{where}: {name} lacks probes")
        check("cpu" not in container["resources"].get("limits", {}), f"{where}: {name} has a CPU limit (throttling)")

    pdb = docs[("PodDisruptionBudget", "ringcache-node")]["spec"]
    check(pdb.get("maxUnavailable") == 1, f"{where}: the nodes' PDB must allow one node down at a time")
    check(pdb["selector"]["matchLabels"] == sts["selector"]["matchLabels"], f"{where}: the PDB does not select the nodes")

    services = {name: d for (kind, name), d in docs.items() if kind == "Service"}
    monitored = set()
    for (kind, name), doc in docs.items():
        if kind != "ServiceMonitor":
            continue
        match = doc["spec"]["selector"]["matchLabels"]
        targets = [s for s in services.values() if match.items() <= s["metadata"]["labels"].items()]
        check(len(targets) == 1, f"{where}: ServiceMonitor/{name} selects {len(targets)} Services, not 1")
        for endpoint in doc["spec"]["endpoints"]:
            for t in targets:
                check(endpoint["port"] in {p["name"] for p in t["spec"]["ports"]}, f"{where}: ServiceMonitor/{name} port {endpoint['port']} is not on the Service")
            jobs = [r.get("replacement") for r in endpoint.get("relabelings", []) if r.get("targetLabel") == "job"]
            monitored.update(jobs)
    check(monitored == JOBS, f"{where}: ServiceMonitors set jobs {sorted(monitored)}, alerts expect {sorted(JOBS)}")


def systemd() -> None:
    for unit, mode in (("ringcache-node", "node"), ("ringcache-proxy", "proxy")):
        text = (DEPLOY / "systemd" / f"{unit}.service").read_text()
        where = f"deploy/systemd/{unit}.service"
        env_line = re.search(r"^Environment=(.*)$", text, re.M).group(1)
        defaults = dict(item.split("=", 1) for item in shlex.split(env_line))
        env_file = DEPLOY / "systemd" / f"{unit}.env"
        overrides = dict(
            line.split("=", 1) for line in env_file.read_text().splitlines() if line and not line.startswith("#")
        )
        check(overrides == defaults, f"{env_file.name} and {where} Environment= disagree: {overrides} vs {defaults}")
        exec_start = re.search(r"^ExecStart=(.*)$", text, re.M).group(1)
        used = set(re.findall(r"\$\{?([A-Z_]+)\}?", exec_start))
        check(used == set(defaults), f"{where}: ExecStart uses {sorted(used)}, Environment= sets {sorted(defaults)}")
        argv = exec_start.split()
        check(argv[1] == mode, f"{where}: ExecStart does not run `ringcache {mode}`")
        check(f"EnvironmentFile=-/etc/default/{unit}" in text, f"{where}: no optional /etc/default/{unit}")
        nofile = int(re.search(r"^LimitNOFILE=(\d+)$", text, re.M).group(1))
        if mode == "node":
            conns, memory = int(defaults["MAX_CONNS"]), int(defaults["MEMORY_MB"])
            check(nofile >= conns + 64, f"{where}: LimitNOFILE {nofile} < -c {conns} + 64")
            memory_max = int(re.search(r"^MemoryMax=(\d+)M$", text, re.M).group(1))
            check(memory_max >= 1.4 * memory, f"{where}: MemoryMax {memory_max}M < 1.4 x -m {memory}")
            print(f"consistency: systemd node -m {memory} -c {conns}: LimitNOFILE {nofile}, MemoryMax {memory_max}M")
        else:
            conns = int(defaults["MAX_CONNS"])
            check(nofile >= conns + 1024, f"{where}: LimitNOFILE {nofile} < -c {conns} + 1024 for the node pools")
            print(f"consistency: systemd proxy --nodes-file {defaults['NODES_FILE']} -c {conns}: LimitNOFILE {nofile}")


def compose_and_prometheus() -> None:
    compose_path = DEPLOY / "container/compose.yaml"
    compose = yaml.safe_load(compose_path.read_text())
    services = compose["services"]
    nodes = sorted(name for name, s in services.items() if s.get("command", [None])[0] == "node")
    check(len(nodes) == 3, f"compose.yaml: {len(nodes)} nodes, not 3")
    proxy_nodes = flag(services["proxy"]["command"], "--nodes").split(",")
    check(proxy_nodes == [f"{n}:11211" for n in nodes], f"compose.yaml: proxy --nodes {proxy_nodes} is not the node services")
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                check((compose_path.parent / source).is_dir(), f"compose.yaml: {name} mounts {source}, which does not exist")

    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    check(set(jobs) == JOBS, f"prometheus.yml: jobs {sorted(jobs)} are not {sorted(JOBS)}")
    node_targets = sorted(t for sc in jobs["ringcache-node"]["static_configs"] for t in sc["targets"])
    check(node_targets == [f"{n}:9150" for n in nodes], f"prometheus.yml: node targets {node_targets} are not compose's nodes")
    proxy_targets = [t for sc in jobs["ringcache-proxy"]["static_configs"] for t in sc["targets"]]
    check(proxy_targets == ["proxy:9151"], f"prometheus.yml: proxy targets {proxy_targets}")
    k8s = yaml.safe_load((DEPLOY / "prometheus/prometheus-kubernetes.yml").read_text())
    check({j["job_name"] for j in k8s["scrape_configs"]} == JOBS, "prometheus-kubernetes.yml: job names")
    print(f"consistency: compose nodes {nodes} = proxy --nodes = prometheus.yml targets")

    grafana = services["grafana"]
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/ringcache.yaml").read_text())
    path = provider["providers"][0]["options"]["path"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    check(mounts.get(path) == "../grafana/dashboards", f"grafana provisioning reads {path}, compose mounts {mounts}")
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    check(datasource["datasources"][0]["url"] == "http://prometheus:9090", "grafana datasource is not compose's Prometheus")
    print(f"consistency: grafana provisioning {path} = compose mount of deploy/grafana/dashboards")


kubernetes()
systemd()
compose_and_prometheus()
for error in errors:
    print(f"consistency: FAIL {error}")
sys.exit(1 if errors else 0)
