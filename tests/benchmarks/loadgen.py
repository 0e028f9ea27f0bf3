"""A paced loopback load generator in its own process: pre-built keep-alive PUT
declarations on raw sockets, sent at a fixed rate (open loop) for a while.

Used where the rate must be fixed (1,000 declarations/s while the GUI thread is
watched). Prints ``loadgen: {json}`` with the count sent, the achieved rate,
non-200 answers and latency percentiles.
"""

from __future__ import annotations

import json
import socket
import sys
import time


def build(port: int, token: str, site: str, active: str) -> bytes:
    body = json.dumps({"sessions": [{"email": active}], "cookies": [], "focused": False}).encode()
    head = (f"PUT /v1/sites/{site}/declaration HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def read_response(sock: socket.socket, buf: bytearray) -> int:
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        rest += chunk
    buf[:] = rest[length:]
    return status


def main(argv: list[str]) -> int:
    port, token = int(argv[1]), argv[2]
    rate, seconds, sites = float(argv[3]), float(argv[4]), int(argv[5])
    total = int(rate * seconds)
    # Every request changes a site: account alternates each pass over the sites.
    requests = [build(port, token, f"site{i % sites:05d}.example",
                      f"user{(i // sites) % 2}.{i % sites}@site{i % sites:05d}.example")
                for i in range(total)]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    for n, request in enumerate(requests):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent = time.perf_counter()
        sock.sendall(request)
        if read_response(sock, buf) != 200:
            errors += 1
        latencies.append(time.perf_counter() - sent)
    elapsed = time.perf_counter() - start
    sock.close()
    latencies.sort()
    print("loadgen: " + json.dumps({
        "sent": total, "seconds": elapsed, "rate": total / elapsed, "errors": errors,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
