"""The Python original, for the overhead table: aiohttp with Logfire's instrumentation.

Usage (normally through bench/python/run.sh, which the Rust `overhead` binary runs):

    BENCH_URL=http://127.0.0.1:PORT python aiohttp_bench.py VARIANT

VARIANT is one of VARIANTS below. Each runs in its own process (instrumentation is global).
Requests go to the Rust overhead binary's server: GET /get, or POST /post with a 1 KiB JSON
body that the server echoes. For each concurrency in BENCH_CONCURRENCY (default "1,64") the
script runs BENCH_ROUNDS rounds (default 3) of BENCH_REQUESTS_C1 / BENCH_REQUESTS_MANY requests
and prints one JSON line per concurrency with the medians: requests per second and this
process's CPU time per request (the client only: the server is in the Rust process).

Spans go to a processor that drops them, or (the `-otlp` variant) to a batch OTLP/HTTP exporter
sending to ROTEL_OTLP_HTTP (a local rotel collector).
"""

import asyncio
import json
import os
import statistics
import sys
import time

import aiohttp

VARIANTS = {
    "aiohttp-get": ("aiohttp (uninstrumented)", "GET", None),
    "logfire-get": ("aiohttp + logfire", "GET", "discard"),
    "aiohttp-post": ("aiohttp (uninstrumented)", "POST 1 KiB", None),
    "logfire-capture-all-post": ("aiohttp + logfire capture_all", "POST 1 KiB", "discard"),
    "logfire-capture-all-otlp-post": (
        "aiohttp + logfire capture_all, batch OTLP/HTTP export to rotel",
        "POST 1 KiB",
        "otlp",
    ),
}


def kib_json() -> bytes:
    """A 1 KiB JSON document (the same size as the Rust rows' request body)."""
    items = []
    doc = ""
    i = 0
    while True:
        items.append(f"item-{i:04}-abcdefghij")
        candidate = json.dumps({"items": items, "pad": ""}, separators=(",", ":"))
        if len(candidate) > 1024 - 30:
            break
        doc = candidate
        i += 1
    obj = json.loads(doc)
    obj["pad"] = "x" * (1024 - len(doc))
    out = json.dumps(obj, separators=(",", ":")).encode()
    assert len(out) == 1024, len(out)
    return out


def configure(spans, capture_all):
    """Sets up logfire like the seed page does; returns the span processor (or None)."""
    if spans is None:
        return None
    import logfire
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if spans == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = os.environ["ROTEL_OTLP_HTTP"].rstrip("/") + "/v1/traces"
        processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
    else:

        class Discard(SpanProcessor):
            def on_end(self, span):
                pass

        processor = Discard()
    logfire.configure(
        send_to_logfire=False,
        console=False,
        additional_span_processors=[processor],
    )
    logfire.instrument_aiohttp_client(capture_all=capture_all)
    return processor


async def run_batch(session, method, url, body, concurrency, total):
    remaining = [total]

    async def worker():
        while remaining[0] > 0:
            remaining[0] -= 1
            if method == "GET":
                async with session.get(url) as response:
                    data = await response.read()
            else:
                async with session.post(
                    url, data=body, headers={"content-type": "application/json"}
                ) as response:
                    data = await response.read()
            if response.status != 200 or (body and len(data) != len(body)):
                raise RuntimeError(f"bad response: {response.status}, {len(data)} bytes")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def main(variant):
    name, workload, spans = VARIANTS[variant]
    processor = configure(spans, capture_all="capture_all" in name)
    base = os.environ["BENCH_URL"].rstrip("/")
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    concurrencies = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1,64").split(",")]
    n1 = int(os.environ.get("BENCH_REQUESTS_C1", "1000"))
    n_many = int(os.environ.get("BENCH_REQUESTS_MANY", "5000"))
    method = "GET" if workload == "GET" else "POST"
    url = base + ("/get" if method == "GET" else "/post")
    body = kib_json() if method == "POST" else b""
    connector = aiohttp.TCPConnector(limit=max(concurrencies))
    async with aiohttp.ClientSession(connector=connector) as session:
        for c in concurrencies:  # warm-up (connections, imports, caches)
            await run_batch(session, method, url, body, c, max(c, 200))
        results = {c: [] for c in concurrencies}
        for _ in range(rounds):
            for c in concurrencies:
                total = n1 if c == 1 else n_many
                cpu0, t0 = time.process_time(), time.perf_counter()
                await run_batch(session, method, url, body, c, total)
                elapsed = time.perf_counter() - t0
                cpu = time.process_time() - cpu0
                results[c].append((total / elapsed, cpu * 1e6 / total))
                print(
                    f"python {variant} c={c}: {total / elapsed:.0f} req/s",
                    file=sys.stderr,
                    flush=True,
                )
    if processor is not None and hasattr(processor, "force_flush"):
        processor.force_flush()
    for c in concurrencies:
        line = {
            "client": name,
            "workload": workload,
            "concurrency": c,
            "rps": statistics.median(r for r, _ in results[c]),
            "cpu_us_per_request": statistics.median(u for _, u in results[c]),
        }
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in VARIANTS:
        sys.exit(f"usage: aiohttp_bench.py {{{','.join(VARIANTS)}}}")
    asyncio.run(main(sys.argv[1]))
