#!/usr/bin/env python3
"""Drives a memcached-compatible server over TLS with pymemcache's own TLS
support (tls_context=ssl.create_default_context(cafile=...)), and checks the
answers. Exits 0 when all checks pass, 1 at the first failure.

Run by server/tests/tls_node.rs against a ringcache node started with TLS.

    python3 tls_check.py 127.0.0.1 11211 ca.pem [client.pem client.key]

With a client certificate and key, they are presented to the server (for
nodes that verify clients: ssl_verify_mode / --tls-verify-client).
"""

import ssl
import sys

from pymemcache.client.base import Client


def check(cond, what, got=None):
    if not cond:
        print(f"FAIL: {what}; got {got!r}")
        sys.exit(1)


def main():
    host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    context = ssl.create_default_context(cafile=cafile)
    if len(sys.argv) > 5:
        context.load_cert_chain(certfile=sys.argv[4], keyfile=sys.argv[5])
    c = Client(
        (host, port),
        connect_timeout=5,
        timeout=5,
        default_noreply=False,
        tls_context=context,
    )

    check(c.version() == b"1.6.18", "version", c.version())
    check(c.set("tls:a", b"hello") is True, "set stored")
    check(c.get("tls:a") == b"hello", "get after set", c.get("tls:a"))
    big = bytes(range(256)) * 2000  # 512000 bytes: many TLS records
    check(c.set("tls:big", big) is True, "big set stored")
    check(c.get("tls:big") == big, "big value round trip")
    many = {f"tls:k{i}": str(i).encode() for i in range(50)}
    check(c.set_many(many) == [], "set_many")
    check(c.get_many(list(many)) == many, "get_many")
    check(c.incr("tls:n", 1) is None, "incr miss")
    c.set("tls:n", b"41")
    check(c.incr("tls:n", 1) == 42, "incr")
    check(c.delete("tls:a") is True, "delete")
    check(c.get("tls:a") is None, "get after delete")
    c.close()
    print("tls_check: all checks passed")


if __name__ == "__main__":
    main()
