#!/usr/bin/env python3
"""Run a load generator and measure it from the server's side, over a fixed
window, so that two different load generators are measured the same way.

Usage: server_window.py --port P --server-pid PID --skip S --measure D \
           --out REPORT.json --tool-out TOOL_STDOUT [--tool NAME] [--label TEXT] \
           [--] COMMAND...

It starts COMMAND (the load generator, already pinned with taskset so that
its pid is the tool's own), then polls the memcached server on 127.0.0.1:P
with `stats` every 100 ms. The window opens S seconds after the server's
`cmd_get` first moves (so a tool's untimed warm-up sets and a ramp at the
start are left out), and with --skip-items N not before `curr_items` has
grown by N since then (memaslap's 90:10 fills its key windows with new keys
first), and closes D seconds later. Over the window it reports:

  ops_per_sec           (cmd_get + cmd_set) deltas / wall time, as the server counted
  server.cpu_us_per_op  (rusage_user + rusage_system deltas, from `stats`) / ops
  server.cpu_utilisation  server CPU seconds per wall second
  server.sys_us_per_op  the kernel's part of it (rusage_system)
  server.sleeps_per_op  voluntary context switches of the server's threads per op
                        (how often it found nothing to do and slept)
  server.reads_per_op   read calls of the server per op (/proc/PID/io syscr): 1 when
                        every read finds a request, more when reads find nothing
  client_cpu_utilisation  the tool's utime+stime (/proc) per wall second
  client_reads_per_op   the same for the tool
  client_sleeps_per_op  the same for the tool's threads
  tcp_segments_per_op   TCP segments sent machine-wide (/proc/net/snmp OutSegs) per
                        op: 2 is a request and a reply with the ACKs riding on them
  get_hit_ratio         get_hits / (get_hits + get_misses) in the window
  items_start/items_end curr_items at the window's edges

COMMAND's stdout goes to TOOL_STDOUT, its stderr to TOOL_STDOUT.log; the report (JSON) to --out. It waits
for COMMAND to finish; the command must run at least S + D seconds after its
first get. Exits 1 if the window never closed.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time

POLL_SECS = 0.1


def stats(sock):
    sock.sendall(b"stats\r\n")
    buf = b""
    while not buf.endswith(b"END\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the stats connection")
        buf += chunk
    out = {}
    for line in buf.decode().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = parts[2]
    return out


def switches(pid):
    """Voluntary context switches of all a process's threads: how often it slept."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
    except (OSError, ValueError):
        return None
    return total


def read_calls(pid):
    """read(2)-family calls the process has made (/proc/PID/io syscr), those
    that found nothing (EAGAIN) included."""
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                if line.startswith("syscr:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def tcp_out_segs():
    """Segments sent by every TCP socket on the machine (/proc/net/snmp)."""
    try:
        with open("/proc/net/snmp") as f:
            rows = [line.split() for line in f if line.startswith("Tcp:")]
        return int(rows[1][rows[0].index("OutSegs")])
    except (OSError, IndexError, ValueError):
        return None


def snapshot(sock, server_pid, client_pid, hz):
    s = stats(sock)
    t = time.monotonic()
    ticks = None
    try:
        with open(f"/proc/{client_pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        pass
    return {
        "t": t,
        "get": int(s["cmd_get"]),
        "set": int(s["cmd_set"]),
        "hits": int(s["get_hits"]),
        "misses": int(s["get_misses"]),
        "cpu": float(s["rusage_user"]) + float(s["rusage_system"]),
        "sys": float(s["rusage_system"]),
        "server_sleeps": switches(server_pid),
        "client_sleeps": switches(client_pid),
        "segs": tcp_out_segs(),
        "server_reads": read_calls(server_pid),
        "client_reads": read_calls(client_pid),
        "items": int(s["curr_items"]),
        "client_secs": ticks / hz if ticks is not None else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--skip", type=float, default=1.0)
    ap.add_argument("--skip-items", type=int, default=0,
                    help="also wait until curr_items has grown by this many since the first get")
    ap.add_argument("--measure", type=float, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tool-out", required=True)
    ap.add_argument("--tool", default="", help="the tool's name, copied into the report")
    ap.add_argument("--label", default="")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command given")
    hz = os.sysconf("SC_CLK_TCK")

    sock = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    with open(a.tool_out, "w") as tool_out, open(a.tool_out + ".log", "w") as tool_err:
        proc = subprocess.Popen(cmd, stdout=tool_out, stderr=tool_err)
        first_get = start = end = None
        prev = snapshot(sock, a.server_pid, proc.pid, hz)
        while proc.poll() is None:
            time.sleep(POLL_SECS)
            cur = snapshot(sock, a.server_pid, proc.pid, hz)
            if first_get is None and cur["get"] > prev["get"]:
                first_get = prev
            if (first_get is not None and start is None and cur["t"] - first_get["t"] >= a.skip
                    and cur["items"] - first_get["items"] >= a.skip_items):
                start = cur
            if start is not None and end is None and cur["t"] - start["t"] >= a.measure:
                end = cur
            prev = cur
        rc = proc.wait()
    sock.close()

    report = {"label": a.label, "tool": a.tool, "command": cmd, "tool_exit": rc,
              "skip_secs": a.skip, "skip_items": a.skip_items, "ops_per_sec": None, "errors": None}
    if first_get is not None and start is not None:
        report["window_start_secs"] = start["t"] - first_get["t"]
    if start is None or end is None:
        json.dump(report, open(a.out, "w"), indent=1)
        print(f"window did not close (tool ran too briefly?): {a.label}", file=sys.stderr)
        sys.exit(1)
    secs = end["t"] - start["t"]
    ops = (end["get"] - start["get"]) + (end["set"] - start["set"])
    cpu = end["cpu"] - start["cpu"]
    hits, misses = end["hits"] - start["hits"], end["misses"] - start["misses"]
    def per_op(key):
        if start[key] is None or end[key] is None or not ops:
            return None
        return (end[key] - start[key]) / ops

    client = None
    if start["client_secs"] is not None and end["client_secs"] is not None:
        client = (end["client_secs"] - start["client_secs"]) / secs
    report.update(
        window_secs=secs,
        ops=ops,
        ops_per_sec=ops / secs,
        gets=end["get"] - start["get"],
        sets=end["set"] - start["set"],
        errors=0,
        get_hit_ratio=hits / (hits + misses) if hits + misses else None,
        items_start=start["items"],
        items_end=end["items"],
        client_cpu_utilisation=client,
        client_sleeps_per_op=per_op("client_sleeps"),
        tcp_segments_per_op=per_op("segs"),
        client_reads_per_op=per_op("client_reads"),
        server={
            "pid": a.server_pid,
            "cpu_secs": cpu,
            "cpu_us_per_op": cpu * 1e6 / ops if ops else None,
            "cpu_utilisation": cpu / secs,
            "sys_us_per_op": (end["sys"] - start["sys"]) * 1e6 / ops if ops else None,
            "sleeps_per_op": per_op("server_sleeps"),
            "reads_per_op": per_op("server_reads"),
        },
    )
    json.dump(report, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
