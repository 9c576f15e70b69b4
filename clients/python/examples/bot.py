#!/usr/bin/env python3
"""A trading-bot-style client of `hearth serve`: many concurrent streaming requests.

Each "tick" asks the model for a buy / sell / hold signal on one ticker, as JSON that follows
SIGNAL_SCHEMA (structured output: the server constrains the tokens, so a complete answer always
parses and validates). The bot shows the patterns a real client of the service needs:

  * concurrency: up to --concurrency streams in flight (asyncio + grpc.aio);
  * priorities: alerts (priority 0) run before background research (priority 1);
  * per-request deadlines: a signal later than --deadline seconds is worthless;
  * cancellation: when "the market moves" mid-stream the bot cancels the call, which aborts the
    request on the server and frees its KV cache at once;
  * backpressure: RESOURCE_EXHAUSTED (the server's waiting queue is full) is retried after the
    server's retry-after hint (hearth_client.retry_after), else with exponential backoff, with
    jitter. (HearthClient's own `retries` does this transparently; the bot turns it off to
    count and show it.)
  * several servers: --address h1:p1,h2:p2 balances round-robin over replicas.

    pip install clients/python
    python3 clients/python/examples/bot.py --address 127.0.0.1:50051 --requests 32

The last line printed is a JSON summary (counts per outcome).
"""

import argparse
import asyncio
import json
import random
import sys
import time

import grpc

import hearth_client

TICKERS = ["ACME", "GLOBX", "INITECH", "UMBRL", "WAYNE", "STARK", "HOOLI", "VANDL"]
# The answer's shape; a reply that ends with FINISH_REASON_STOP always matches it.
SIGNAL_SCHEMA = {
    "type": "object",
    "properties": {
        "side": {"enum": ["buy", "sell", "hold"]},
        "size": {"type": "number"},
        "reason": {"type": "string", "maxLength": 80},
    },
    "required": ["side", "size", "reason"],
}
NEWS = ["beats earnings", "misses guidance", "announces buyback", "CEO resigns",
        "wins contract", "faces recall", "raises dividend", "cuts jobs"]


async def one_tick(client, rng, i, args, stats):
    alert = i % 4 == 0
    ticker, news = rng.choice(TICKERS), rng.choice(NEWS)
    request = hearth_client.build_request(
        chat=[("system", "You are a trading assistant. Answer with a JSON signal: side, size "
                         "(fraction of the portfolio) and a short reason."),
              ("user", f"{ticker} {news}. Signal?")],
        priority=0 if alert else 1, request_id=f"tick-{i}", json_schema=SIGNAL_SCHEMA,
        max_tokens=args.max_tokens, temperature=0.7, seed=i)
    # The market moves before this signal is complete: cancel after a few tokens.
    cancel_after = rng.randint(1, 4) if rng.random() < args.cancel_fraction else None
    for attempt in range(args.retries + 1):
        call = client.generate(request, timeout=args.deadline)
        text, tokens, finish = "", 0, None
        try:
            async for msg in call:
                text += msg.text
                tokens += len(msg.token_ids)
                finish = msg.finish_reason or finish
                if cancel_after is not None and tokens >= cancel_after:
                    call.cancel()
                    stats["cancelled"] += 1
                    return
            stats["completed"] += 1
            stats["tokens"] += tokens
            if finish == hearth_client.pb.FINISH_REASON_STOP:
                signal = json.loads(text)  # complete: matches SIGNAL_SCHEMA
                stats["signals"] += 1
                if args.verbose:
                    print(f"[{'alert' if alert else 'research'}] {ticker}: {signal['side']} "
                          f"{signal['size']} ({signal['reason']})")
            else:  # FINISH_REASON_CONSTRAINT_UNMET: max_tokens ran out mid-answer
                stats["incomplete"] += 1
            return
        except grpc.aio.AioRpcError as e:
            if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and attempt < args.retries:
                stats["retries"] += 1
                hint = hearth_client.retry_after(e)
                wait = hint if hint is not None else args.backoff * 2 ** attempt
                await asyncio.sleep(wait * (0.5 + rng.random()))  # jitter
                continue
            key = {grpc.StatusCode.DEADLINE_EXCEEDED: "deadline_exceeded",
                   grpc.StatusCode.RESOURCE_EXHAUSTED: "gave_up"}.get(e.code(), "failed")
            stats[key] += 1
            if key == "failed":
                print(f"tick {i}: {e.code().name}: {e.details()}", file=sys.stderr)
            return
        except asyncio.CancelledError:  # our own cancel surfaced through the iterator
            stats["cancelled"] += 1
            return


async def main(args):
    rng = random.Random(args.seed)
    stats = dict(completed=0, cancelled=0, deadline_exceeded=0, retries=0, gave_up=0,
                 failed=0, tokens=0, signals=0, incomplete=0)
    limit = asyncio.Semaphore(args.concurrency)
    start = time.monotonic()
    async with hearth_client.AsyncHearthClient(args.address, retries=0) as client:
        async def bounded(i):
            async with limit:
                await one_tick(client, rng, i, args, stats)
        await asyncio.gather(*(bounded(i) for i in range(args.requests)))
    stats["requests"] = args.requests
    stats["seconds"] = round(time.monotonic() - start, 3)
    print(json.dumps(stats))
    return 1 if stats["failed"] else 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--address", default="127.0.0.1:50051",
                   help="HOST:PORT, or several separated by commas (round-robin)")
    p.add_argument("--requests", type=int, default=32)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--deadline", type=float, default=30.0, help="seconds per request")
    p.add_argument("--cancel-fraction", type=float, default=0.25)
    p.add_argument("--retries", type=int, default=8)
    p.add_argument("--backoff", type=float, default=0.05,
                   help="first retry delay in seconds when the server gives no hint")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", action="store_true")
    sys.exit(asyncio.run(main(p.parse_args())))
