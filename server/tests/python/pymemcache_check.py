#!/usr/bin/env python3
"""Drives a memcached-compatible server at HOST PORT with pymemcache, the way an
application would, and checks every answer. Exits 0 when all checks pass, 1 at
the first failed check (printing what was expected and what came back).

Run by server/tests/peer_clients.rs against a ringcache node and against
Debian's memcached (which proves the checks themselves right), and by
server/tests/proxy_clients.rs against `ringcache proxy` with --proxy. With
--proxy, the checks that cannot hold through a proxy change: `stats` is the
proxy's own block (no limit_maxbytes, no `stats settings maxbytes`), and
`cache_memlimit` is a per-node command the proxy refuses. Every other check is
the same as against a single node.

    python3 pymemcache_check.py 127.0.0.1 11211
    python3 pymemcache_check.py 127.0.0.1 11311 --proxy
"""

import sys

from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheServerError

# The largest value memcached stores under a key of n bytes with -I 1m is
# 1 MiB - 48 (header) - 8 (CAS) - (n + 1) - 2; stay a little under and over.
NEAR_LIMIT = 1_000_000
OVER_LIMIT = 1_100_000

step = "start"


def check(cond, what, got=None):
    if not cond:
        print(f"FAIL [{step}]: {what}; got {got!r}")
        sys.exit(1)


def main():
    global step
    host, port = sys.argv[1], int(sys.argv[2])
    proxy = "--proxy" in sys.argv[3:]
    addr = (host, port)
    c = Client(addr, connect_timeout=5, timeout=5, default_noreply=False)
    q = Client(addr, connect_timeout=5, timeout=5, default_noreply=True)

    # Start from an empty cache, so that a rerun against the same server passes.
    c.flush_all()

    step = "version"
    v = c.version()
    check(isinstance(v, bytes) and len(v) > 0, "version is non-empty bytes", v)

    step = "set/get"
    check(c.set("py:a", b"hello") is True, "set returns True")
    check(c.get("py:a") == b"hello", "get returns the value", c.get("py:a"))
    check(c.get("py:missing") is None, "get of a missing key is None", c.get("py:missing"))
    check(c.set("py:flags", b"x", flags=77) is True, "set with flags")
    value = c.raw_command(b"get py:flags", b"END").split(b"\r\n")[0]
    check(value == b"VALUE py:flags 77 1", "flags come back in the VALUE line", value)

    step = "binary values"
    blob = bytes(range(256)) * 8 + b"\r\nEND\r\n\x00"
    check(c.set("py:bin", blob) is True, "set of a binary value")
    check(c.get("py:bin") == blob, "binary value round-trips", len(c.get("py:bin") or b""))
    check(c.set("py:empty", b"") is True, "set of an empty value")
    check(c.get("py:empty") == b"", "empty value round-trips", c.get("py:empty"))

    step = "large values"
    big = bytes((i * 7) % 251 for i in range(NEAR_LIMIT))
    check(c.set("py:big", big) is True, "set of a value near the limit")
    check(c.get("py:big") == big, "large value round-trips")
    try:
        c.set("py:toobig", b"z" * OVER_LIMIT)
        check(False, "a value over the limit is refused")
    except MemcacheServerError as e:
        check(b"object too large" in str(e).encode() or "too large" in str(e),
              "the refusal says object too large", str(e))
    check(c.get("py:toobig") is None, "the refused value is absent")
    check(c.get("py:a") == b"hello", "the connection still works after the refusal")

    step = "get_many"
    c.set_many({"py:m1": b"1", "py:m2": b"2", "py:m3": b"3"})
    got = c.get_many(["py:m1", "py:m2", "py:m3", "py:mnone"])
    check(got == {"py:m1": b"1", "py:m2": b"2", "py:m3": b"3"}, "get_many", got)

    step = "gets/cas"
    c.set("py:cas", b"v1")
    val, cas = c.gets("py:cas")
    check(val == b"v1" and cas is not None, "gets returns value and cas", (val, cas))
    check(c.cas("py:cas", b"v2", cas) is True, "cas with the current unique stores")
    check(c.get("py:cas") == b"v2", "cas stored the new value", c.get("py:cas"))
    check(c.cas("py:cas", b"v3", cas) is False, "cas with a stale unique is refused")
    check(c.get("py:cas") == b"v2", "stale cas left the value alone", c.get("py:cas"))
    check(c.cas("py:casnone", b"v", b"1") is None, "cas on a missing key is None")
    _, cas2 = c.gets("py:cas")
    check(cas2 != cas, "the unique changed with the value", (cas, cas2))
    many = c.gets_many(["py:cas", "py:a"])
    check(set(many) == {"py:cas", "py:a"}, "gets_many", many)

    step = "add/replace"
    check(c.add("py:add", b"1") is True, "add of a new key stores")
    check(c.add("py:add", b"2") is False, "add of an existing key is refused")
    check(c.get("py:add") == b"1", "refused add left the value", c.get("py:add"))
    check(c.replace("py:add", b"3") is True, "replace of an existing key stores")
    check(c.replace("py:repnone", b"x") is False, "replace of a missing key is refused")
    check(c.get("py:add") == b"3", "replace stored", c.get("py:add"))

    step = "append/prepend"
    c.set("py:ap", b"mid")
    check(c.append("py:ap", b"_end") is True, "append")
    check(c.prepend("py:ap", b"start_") is True, "prepend")
    check(c.get("py:ap") == b"start_mid_end", "append/prepend result", c.get("py:ap"))
    check(c.append("py:apnone", b"x") is False, "append to a missing key is refused")
    check(c.prepend("py:apnone", b"x") is False, "prepend to a missing key is refused")

    step = "delete"
    check(c.delete("py:ap") is True, "delete of an existing key")
    check(c.delete("py:ap") is False, "delete of a missing key")
    check(c.get("py:ap") is None, "deleted key is gone")

    step = "incr/decr"
    c.set("py:n", b"10")
    check(c.incr("py:n", 5) == 15, "incr", c.get("py:n"))
    check(c.decr("py:n", 20) == 0, "decr stops at 0")
    check(c.incr("py:nnone", 1) is None, "incr of a missing key is None")
    check(c.decr("py:nnone", 1) is None, "decr of a missing key is None")
    c.set("py:n", b"18446744073709551615")
    check(c.incr("py:n", 2) == 1, "incr wraps at 2^64")
    c.set("py:n", b"100")
    check(c.decr("py:n", 91) == 9, "decr to a shorter number")
    check(c.get("py:n").strip() == b"9", "the shorter number reads back", c.get("py:n"))

    step = "touch"
    c.set("py:t", b"x")
    check(c.touch("py:t", 100) is True, "touch of an existing key")
    check(c.touch("py:tnone", 100) is False, "touch of a missing key")
    c.set("py:t2", b"x")
    check(c.touch("py:t2", -1) is True, "touch with a negative exptime")
    check(c.get("py:t2") is None, "negative touch expired the key", c.get("py:t2"))

    step = "expire"
    c.set("py:e", b"x", expire=-1)
    check(c.get("py:e") is None, "negative exptime is already expired")

    step = "noreply"
    # Reads go through the quiet client too: its connection orders them after
    # its own noreply writes (another connection could read too early).
    check(q.set("py:nr", b"1") is True, "noreply set")
    check(q.add("py:nr", b"2") is True, "noreply add answers True without asking")
    check(q.replace("py:nr", b"3") is True, "noreply replace")
    check(q.append("py:nr", b"4") is True, "noreply append")
    check(q.prepend("py:nr", b"0") is True, "noreply prepend")
    check(q.get("py:nr") == b"034", "noreply writes all applied in order", q.get("py:nr"))
    q.set("py:nrn", b"5")
    # pymemcache's incr/decr/cas ignore default_noreply: ask for it explicitly.
    r = q.incr("py:nrn", 1, noreply=True)
    check(r is None, "noreply incr returns None", r)
    r = q.decr("py:nrn", 3, noreply=True)
    check(r is None, "noreply decr returns None", r)
    check(q.get("py:nrn") == b"3", "noreply incr/decr applied", q.get("py:nrn"))
    check(q.touch("py:nrn", 100) is True, "noreply touch")
    check(q.delete("py:nrn") is True, "noreply delete")
    check(q.get("py:nrn") is None, "noreply delete applied", q.get("py:nrn"))
    _, cas = c.gets("py:nr")
    q.cas("py:nr", b"casnr", cas, noreply=True)
    check(q.get("py:nr") == b"casnr", "noreply cas applied", q.get("py:nr"))
    # A noreply client stays in step: a normal request after many quiet ones.
    for i in range(100):
        q.set(f"py:burst{i}", str(i).encode())
    check(q.get("py:burst99") == b"99", "100 pipelined noreply sets landed", q.get("py:burst99"))
    check(c.get("py:burst0") == b"0", "another connection sees them", c.get("py:burst0"))
    check(q.get("py:burst42") == b"42", "the noreply client reads in step", q.get("py:burst42"))

    step = "set_many/delete_many"
    failed = c.set_many({"py:s1": b"1", "py:s2": b"2"}, noreply=False)
    check(failed == [], "set_many stored every key", failed)
    failed = q.set_many({"py:s3": b"3", "py:s4": b"4"})
    check(failed == [], "noreply set_many reports no failures", failed)
    check(q.get_many(["py:s1", "py:s3", "py:s4"]) == {"py:s1": b"1", "py:s3": b"3", "py:s4": b"4"},
          "set_many values", q.get_many(["py:s1", "py:s3", "py:s4"]))
    check(c.delete_many(["py:s1", "py:s2", "py:snone"], noreply=False) is True, "delete_many")
    check(c.get_many(["py:s1", "py:s2"]) == {}, "delete_many removed the keys",
          c.get_many(["py:s1", "py:s2"]))

    step = "stats"
    stats = c.stats()
    names = [b"pid", b"uptime", b"cmd_get", b"get_hits", b"get_misses", b"curr_connections",
             b"version"]
    if not proxy:
        names += [b"curr_items", b"total_items", b"limit_maxbytes", b"bytes"]
    for name in names:
        check(name in stats, f"stats has {name!r}", sorted(stats)[:10])
    check(stats[b"cmd_get"] > 0, "cmd_get counted the gets", stats[b"cmd_get"])
    if proxy:
        check(stats.get(b"ring_nodes", 0) >= 1, "the proxy reports its ring", stats.get(b"ring_nodes"))
    else:
        check(stats[b"limit_maxbytes"] == 64 * 1024 * 1024, "limit_maxbytes is -m 64",
              stats[b"limit_maxbytes"])
        settings = c.stats("settings")
        check(settings.get(b"maxbytes") == 64 * 1024 * 1024, "stats settings maxbytes",
              settings.get(b"maxbytes"))

    step = "flush_all"
    check(c.flush_all() is True, "flush_all")
    check(c.get("py:a") is None, "flush_all emptied the cache", c.get("py:a"))
    check(q.flush_all() is True, "noreply flush_all")
    q.version()  # waits until the quiet flush_all has been handled
    check(c.set("py:after", b"1") is True, "set after flush")
    check(c.get("py:after") == b"1", "cache works after flush")

    if not proxy:
        step = "cache_memlimit"
        check(c.cache_memlimit(100) is True, "cache_memlimit 100")
        settings = c.stats("settings")
        check(settings.get(b"maxbytes") == 100 * 1024 * 1024, "maxbytes follows cache_memlimit",
              settings.get(b"maxbytes"))
        check(c.cache_memlimit(64) is True, "cache_memlimit back to 64")

    step = "quit"
    c.quit()
    check(c.get("py:after") == b"1", "the client reconnects after quit", c.get("py:after"))

    c.close()
    q.close()
    print("pymemcache: all checks passed")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a client error is a failed check too: say which
        import traceback

        traceback.print_exc()
        print(f"FAIL [{step}]: {type(e).__name__}: {e}")
        sys.exit(1)
