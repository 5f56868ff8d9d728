"""`python -m bench.claimers`: CS agents claiming question groups of one stream, one thread
and one database connection per agent, through `support.services`.

Modes:
- `claim`: every agent picks at random among the first `--window` groups of the queue it
  does not know to be taken, and claims it (`group_claim`), as agents click on the top of
  a shared queue. Agents of one process learn at once what their neighbours took; other
  processes' claims they learn by losing the race (`GroupConflict`), as a screen whose
  event has not arrived yet would.
- `next`: every agent asks the queue for its next group (`group_claim_next`).
- `take`: as `claim`, but only the claim's conditional UPDATE (`services._take`), to show
  how much of a claim's cost is the database's.
In `claim` and `next`, an agent at its capacity answers what it holds (`group_answer`)
before claiming more. A group once claimed is never free again, so two successful claims
of one group are a double claim, whenever they happened (runs are shorter than a lease).

Over stdout: {"ready": true} once every agent's connection is open; then it waits for a
line on stdin, runs for `--seconds`, and prints one JSON line: counts, every successful
claim as [group, agent, version], and how long each call took (ms).
"""

import argparse
import json
import random
import sys
import threading
import time


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stream", type=int, required=True)
    parser.add_argument("--agents", required=True, help="comma-separated user ids")
    parser.add_argument("--mode", choices=["claim", "next", "take"], required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.core.exceptions import ValidationError
    from django.db import connection, transaction
    from django.utils import timezone

    from rooms.models import Stream, User
    from support import services
    from support.models import Agent, GroupStatus, QuestionGroup

    stream = Stream.objects.select_related("channel", "studio").get(pk=args.stream)
    users = list(User.objects.filter(pk__in=[int(pk) for pk in args.agents.split(",")]))
    capacity = dict(Agent.objects.filter(user__in=users).values_list("user_id", "capacity"))
    queue = list(
        QuestionGroup.objects.filter(stream=stream, status=GroupStatus.OPEN)
        .order_by("deadline", "pk")
        .values_list("pk", flat=True)
    )
    # What an agent's screen hands a service: the group's id and stream. Made before the
    # run, so the agents' own bookkeeping takes as little of the machine as it can.
    handles = {pk: QuestionGroup(pk=pk, stream=stream) for pk in queue}
    shared = threading.Lock()
    taken: set[int] = set()
    cursor = [0]

    def pick(rng: random.Random) -> int | None:
        """One of the first `window` groups not known to be taken."""
        with shared:
            while cursor[0] < len(queue) and queue[cursor[0]] in taken:
                cursor[0] += 1
            candidates = []
            for group_id in queue[cursor[0] :]:
                if group_id not in taken:
                    candidates.append(group_id)
                    if len(candidates) == args.window:
                        break
        return rng.choice(candidates) if candidates else None

    def statement_only(group_id: int, user: User) -> QuestionGroup:
        """The claim's conditional UPDATE alone, in its own transaction: no permission
        check, capacity count or event; what the database's side of a claim costs."""
        with transaction.atomic():
            won = services._take(group_id, user, now=timezone.now(), seen_version=None)
        if not won:
            raise services.GroupConflict("taken", current={})
        return QuestionGroup(pk=group_id, version=-1)

    ready = threading.Barrier(len(users) + 1)
    go = threading.Event()
    deadline = [0.0]
    results: list[dict] = []

    def agent(user: User, seed: int) -> None:
        rng = random.Random(seed)
        held: list[tuple[int, int]] = []
        mine = {"attempts": 0, "conflicts": 0, "empty": 0, "answers": 0, "errors": 0}
        mine.update(successes=[], claim_ms=[], conflict_ms=[], answer_ms=[], error_sample="")

        def group(group_id: int) -> QuestionGroup:
            return handles.get(group_id) or QuestionGroup(pk=group_id, stream=stream)

        try:
            connection.ensure_connection()
            ready.wait()
            go.wait()
            while time.monotonic() < deadline[0]:
                if args.mode != "take" and len(held) >= capacity[user.pk]:
                    for group_id, version in held:
                        began = time.perf_counter()
                        services.group_answer(
                            actor=user,
                            group=group(group_id),
                            seen_version=version,
                            text="亲，已为您解答 / answered",
                        )
                        mine["answer_ms"].append((time.perf_counter() - began) * 1000)
                        mine["answers"] += 1
                    held.clear()
                target = None
                if args.mode in ("claim", "take"):
                    target = pick(rng)
                    if target is None:
                        break
                mine["attempts"] += 1
                began = time.perf_counter()
                try:
                    if args.mode == "claim":
                        claimed = services.group_claim(actor=user, group=group(target))
                    elif args.mode == "take":
                        claimed = statement_only(target, user)
                    else:
                        claimed = services.group_claim_next(actor=user, stream=stream)
                except services.GroupConflict:
                    mine["conflict_ms"].append((time.perf_counter() - began) * 1000)
                    mine["conflicts"] += 1
                    if target is not None:
                        with shared:
                            taken.add(target)
                    continue
                except ValidationError as exc:
                    mine["errors"] += 1
                    mine["error_sample"] = mine["error_sample"] or repr(exc)
                    continue
                elapsed_ms = (time.perf_counter() - began) * 1000
                if claimed is None:
                    mine["empty"] += 1
                    continue
                mine["claim_ms"].append(elapsed_ms)
                mine["successes"].append([claimed.pk, user.pk, claimed.version])
                held.append((claimed.pk, claimed.version))
                with shared:
                    taken.add(claimed.pk)
        except threading.BrokenBarrierError:
            pass
        except Exception as exc:  # reported, not raised: the run's figures say what failed
            mine["errors"] += 1
            mine["error_sample"] = mine["error_sample"] or repr(exc)
            # An agent that cannot start stops the whole process's start.
            ready.abort()
        finally:
            connection.close()
            with shared:
                results.append(mine)

    threads = [
        threading.Thread(target=agent, args=(user, args.seed * 1000 + number))
        for number, user in enumerate(users)
    ]
    for thread in threads:
        thread.start()
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        go.set()
        for thread in threads:
            thread.join()
        errors = [result["error_sample"] for result in results if result["error_sample"]]
        _say({"ready": False, "error": errors[0] if errors else "an agent did not start"})
        return 1
    _say({"ready": True})
    sys.stdin.readline()
    started_at = time.time()
    deadline[0] = time.monotonic() + args.seconds
    go.set()
    for thread in threads:
        thread.join()
    ended_at = time.time()

    def total(key: str) -> int:
        return sum(result[key] for result in results)

    def joined(key: str) -> list[float]:
        return [round(value, 2) for result in results for value in result[key]]

    _say(
        {
            "started_at": started_at,
            "ended_at": ended_at,
            "attempts": total("attempts"),
            "conflicts": total("conflicts"),
            "empty": total("empty"),
            "answers": total("answers"),
            "errors": total("errors"),
            "error_sample": next((r["error_sample"] for r in results if r["error_sample"]), ""),
            "successes": [success for result in results for success in result["successes"]],
            "claim_ms": joined("claim_ms"),
            "conflict_ms": joined("conflict_ms"),
            "answer_ms": joined("answer_ms"),
        }
    )
    return 0


def _say(message: dict) -> None:
    print(json.dumps(message), flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
