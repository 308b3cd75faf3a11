"""A small closed-loop HTTP/1.1 load generator that records every request.

`python -m bench.loadgen PORT PATH BODIES_JSON SECONDS CONNECTIONS OUT_CSV`: CONNECTIONS
keep-alive connections each send the next body as soon as the previous answer arrived.
Each sample is (wall-clock start, latency seconds, status; 0 for a connection error), so
latency can be sliced around any moment, which wrk's summary cannot do.
"""

from __future__ import annotations

import asyncio
import csv
import json
import sys
import time

import uvloop


async def connection(
    port: int, requests: list[bytes], offset: int, stop_at: float, samples: list[tuple]
) -> None:
    index = offset
    reader = writer = None
    while time.time() < stop_at:
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                samples.append((time.time(), 0.0, 0))
                await asyncio.sleep(0.01)
                continue
        request = requests[index % len(requests)]
        index += 1
        wall, started = time.time(), time.perf_counter()
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            samples.append((wall, time.perf_counter() - started, int(head[9:12])))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            samples.append((wall, time.perf_counter() - started, 0))
            writer.close()
            reader = writer = None


async def run(port: int, path: str, bodies: list[str], seconds: float, connections: int) -> list:
    requests = [
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
        ).encode()
        for body in bodies
    ]
    samples: list[tuple] = []
    stop_at = time.time() + seconds
    await asyncio.gather(
        *(connection(port, requests, n * 7, stop_at, samples) for n in range(connections))
    )
    return samples


def main() -> None:
    port, path, bodies_file, seconds, connections, out = sys.argv[1:7]
    with open(bodies_file) as handle:
        bodies = json.load(handle)
    samples = uvloop.run(run(int(port), path, bodies, float(seconds), int(connections)))
    with open(out, "w", newline="") as handle:
        csv.writer(handle).writerows(samples)
    print(json.dumps({"requests": len(samples), "errors": sum(1 for s in samples if s[2] != 200)}))


if __name__ == "__main__":
    main()
