"""`python -m bench.publisher`: appends events to a stream's log at a fixed rate.

One event per transaction, the worst case for the spine: every event is its own commit,
its own head-row lock and its own broadcast. A commit waits for the WAL flush (about 2 ms
here, more when the box is busy), so one thread cannot publish 200 a second; several
threads share the schedule, as the services of several requests and workers would, and
serialise on the stream's head row.

Each event's data carries the wall-clock time it was published (`sent`, unix seconds),
taken just before its transaction begins, so a client's latency includes the commit and
the broadcast. Over stdout it says `{"ready": true}` once warm, waits for a line on stdin,
then prints one JSON line: the id range published, the rate achieved, what each publish cost.
"""

import argparse
import json
import logging
import random
import sys
import threading
import time


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stream", type=int, required=True)
    parser.add_argument("--warm-stream", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.db import connection, transaction

    from rooms import eventlog
    from rooms.eventlog import NewEvent

    from .stats import percentiles_ms
    from .traffic import comment_event_data

    rng = random.Random(3)
    full = _count_full_channels()

    def publish(stream_id: int) -> int:
        data = comment_event_data(rng)
        data["sent"] = time.time()
        with transaction.atomic():
            written = eventlog.append(stream_id, [NewEvent("comment", "received", data)])
        (payload,) = written  # filled in as the transaction commits
        return payload["id"]

    count = round(args.rate * args.seconds)
    costs_ms: list[float] = []
    ids: list[int] = []
    slips: list[float] = [0.0]
    warm = threading.Barrier(args.threads + 1)
    go = threading.Event()
    started = 0.0

    def pace(first: int) -> None:
        try:
            # Each thread opens its database connection, and the process its channel-layer
            # connection, on a stream nobody watches, so measured events do not pay for them.
            publish(args.warm_stream)
            warm.wait()
            go.wait()
            for i in range(first, count, args.threads):
                delay = started + i / args.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    slips.append(-delay)
                began = time.perf_counter()
                ids.append(publish(args.stream))
                costs_ms.append((time.perf_counter() - began) * 1000)
        finally:
            connection.close()

    threads = [threading.Thread(target=pace, args=(k,)) for k in range(args.threads)]
    for thread in threads:
        thread.start()
    warm.wait()
    # Start-up stays outside the caller's CPU measurement: it says go when it has started.
    _say({"ready": True})
    sys.stdin.readline()
    started, started_at = time.monotonic(), time.time()
    go.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    ids.sort()
    contiguous = ids == list(range(ids[0], ids[0] + len(ids))) if ids else True
    _say(
        {
            "started_at": started_at,
            "first": ids[0] if ids else None,
            "last": ids[-1] if ids else None,
            "count": len(ids),
            "contiguous": contiguous,
            "achieved_per_s": round(len(ids) / elapsed, 1),
            "max_slip_ms": round(max(slips) * 1000, 1),
            "publish_cost": percentiles_ms(costs_ms),
            "layer_group_sends_over_capacity": full.count,
        }
    )
    return 0


class _FullChannels(logging.Handler):
    """Counts the group sends that channels_redis' core layer dropped for a full channel.

    It reports them only as an INFO log line; the pub/sub layer has no capacity to exceed.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "over capacity" in record.getMessage():
            self.count += 1


def _count_full_channels() -> _FullChannels:
    handler = _FullChannels()
    layer_logger = logging.getLogger("channels_redis.core")
    layer_logger.setLevel(logging.INFO)
    layer_logger.propagate = False
    layer_logger.addHandler(handler)
    return handler


def _say(message: dict) -> None:
    print(json.dumps(message), flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
