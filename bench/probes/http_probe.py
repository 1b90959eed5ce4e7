#!/usr/bin/env python3
"""Send GET requests at a fixed rate and record each answer as one JSON line.

Runs inside a drill container with the system Python (standard library only).
Each request opens a new connection, as most clients of a web service do, so
that a port that stops listening shows up as a failed request. A request that
does not answer 200 within the timeout counts as failed.

Usage: http_probe.py --url URL --rate 20 --out FILE [--duration SECONDS]

The probe stops after --duration seconds, or on SIGTERM or SIGINT, waits for
the requests in flight and exits 0. Each line of FILE is
{"t": <send time, epoch seconds>, "ms": <latency>, "status": <HTTP status or 0>,
 "version": <"version" of a JSON body or null>, "error": <text or null>}.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import threading
import time
import urllib.parse


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:80/health", help="URL to request (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds before a request counts as failed")
    parser.add_argument("--duration", type=float, default=3600.0, help="seconds to run at most")
    parser.add_argument("--out", required=True, help="file to write one JSON line per request to")
    args = parser.parse_args()
    if args.rate <= 0:
        parser.error(f"--rate must be positive, got {args.rate}")
    return args


def request_once(url: urllib.parse.SplitResult, timeout: float) -> dict:
    sent = time.time()
    started = time.monotonic()
    record = {"t": round(sent, 4), "status": 0, "version": None, "error": None}
    connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=timeout)
    try:
        connection.request("GET", url.path or "/", headers={"Connection": "close"})
        response = connection.getresponse()
        body = response.read()
        record["status"] = response.status
        try:
            record["version"] = json.loads(body).get("version")
        except (ValueError, AttributeError):
            pass
    except (OSError, http.client.HTTPException) as error:
        record["error"] = f"{type(error).__name__}: {error}"
    finally:
        connection.close()
    record["ms"] = round((time.monotonic() - started) * 1000, 1)
    return record


def main() -> int:
    args = parse_args()
    url = urllib.parse.urlsplit(args.url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    lock = threading.Lock()
    out = open(args.out, "w", encoding="utf-8", buffering=1)

    def probe() -> None:
        record = request_once(url, args.timeout)
        with lock:
            out.write(json.dumps(record) + "\n")

    interval = 1.0 / args.rate
    start = time.monotonic()
    deadline = start + args.duration
    workers = []
    tick = 0
    # Requests go out on a fixed schedule, each in its own thread, so a slow
    # answer never delays the next request.
    while not stop.is_set() and time.monotonic() < deadline:
        worker = threading.Thread(target=probe, daemon=True)
        worker.start()
        workers.append(worker)
        workers = [w for w in workers if w.is_alive()]
        tick += 1
        stop.wait(max(0.0, start + tick * interval - time.monotonic()))
    for worker in workers:
        worker.join(args.timeout + 1)
    out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
