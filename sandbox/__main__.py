"""python -m sandbox: a local AWS with the simulated fleet, live until Ctrl-C.

Prints the endpoint and a ready fleet.toml; --write-config PATH also writes it to a file.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

from .fleet import Simulator, build_fleet, fleet_toml
from .server import Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--seed", type=int, default=7, help="fleet seed (default 7)")
    parser.add_argument("--write-config", metavar="PATH", help="also write fleet.toml here")
    parser.add_argument("--store-path", default="headroom.db",
                        help="[store] path written into fleet.toml")
    parser.add_argument("--idle-share", type=float, default=0.0, metavar="SHARE",
                        help="share of functions idle in a given hour, e.g. 0.85 (default 0: "
                             "every function runs every hour); > 0 adds the idle_burst incident")
    args = parser.parse_args(argv)

    # moto's assume-role and our clients need no real credentials; never look for them.
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "testing")

    sb = Sandbox(host=args.host, port=args.port).start()
    started = time.perf_counter()
    truth = build_fleet(sb, seed=args.seed, idle_share=args.idle_share)
    took = time.perf_counter() - started
    config = fleet_toml(sb.endpoint_url, args.store_path)
    if args.write_config:
        with open(args.write_config, "w", encoding="utf-8") as fh:
            fh.write(config)
    print(f"# sandbox listening on {sb.endpoint_url}", file=sys.stderr)
    print(f"# fleet: {len(truth.functions)} functions, built in {took:.1f} s "
          f"(seed {args.seed}); incidents:", file=sys.stderr)
    for inc in truth.incidents:
        print(f"#   {inc.kind}: {inc.account}/{inc.region} {', '.join(inc.functions) or '-'} "
              f"since {time.strftime('%H:%M UTC', time.gmtime(inc.started_at))}: "
              f"{inc.description}", file=sys.stderr)
    print(f"# endpoint: {sb.endpoint_url}")  # a TOML comment: stdout stays valid TOML
    print(config, flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sim = Simulator(sb, truth)
    while not stop.is_set():
        # Wake just after each minute boundary, then write the minute that just ended.
        stop.wait(60 - time.time() % 60 + 1)
        if not stop.is_set():
            sim.tick(time.time())
    sb.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
