"""`python -m bench [ingest|fanout|catchup|crash|calendar|scriptdiff|scriptsheet|live|support|
claims|sla|boosts|replay ...] [options]`; all by default."""

import argparse
import signal
import sys
import traceback

from .harness import emit, log, prepare

BENCHMARKS = (
    "ingest",
    "fanout",
    "catchup",
    "crash",
    "calendar",
    "scriptdiff",
    "scriptsheet",
    "live",
    "support",
    "claims",
    "sla",
    "boosts",
    "replay",
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("benchmarks", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    parser.add_argument("--duration", type=float, default=60, help="ingest: seconds (60)")
    parser.add_argument("--rate", type=int, default=2000, help="ingest: events/s (2000)")
    parser.add_argument("--batch", type=int, default=200, help="ingest: events/request (200)")
    parser.add_argument("--clients", type=int, default=200, help="fanout: sockets (200)")
    parser.add_argument(
        "--client-procs", type=int, default=2, help="fanout, support: client processes (2)"
    )
    parser.add_argument(
        "--phase-seconds", type=float, default=30, help="fanout: seconds per rate (30)"
    )
    parser.add_argument(
        "--variants",
        default="default,core,unbatched,deflate,concurrent",
        help="fanout: comma-separated variants, see bench/fanout.py",
    )
    parser.add_argument("--events", type=int, default=10_000, help="catchup: events behind")
    parser.add_argument("--repeats", type=int, default=5, help="catchup: timed runs (5)")
    parser.add_argument("--rounds", type=int, default=3, help="crash: kills (3)")
    parser.add_argument("--senders", type=int, default=4, help="crash: concurrent senders (4)")
    parser.add_argument(
        "--requests", type=int, default=200, help="calendar: timed requests per page (200)"
    )
    parser.add_argument("--walls", type=int, default=50, help="live: wall screens (50)")
    parser.add_argument("--others", type=int, default=200, help="live: crew screens (200)")
    parser.add_argument("--live-rate", type=int, default=500, help="live: events/s (500)")
    parser.add_argument("--live-duration", type=float, default=60, help="live: seconds (60)")
    parser.add_argument(
        "--support-duration", type=float, default=300, help="support: seconds (300)"
    )
    parser.add_argument("--support-rate", type=int, default=500, help="support: comments/s (500)")
    parser.add_argument(
        "--agent-sockets", type=int, default=200, help="support: agent screens (200)"
    )
    parser.add_argument(
        "--open-groups", type=int, default=10_000, help="claims, sla: open groups (10000)"
    )
    parser.add_argument(
        "--claim-seconds", type=float, default=10, help="claims: seconds per mode (10)"
    )
    parser.add_argument("--claim-agents", type=int, default=50, help="claims: agents (50)")
    parser.add_argument("--claim-procs", type=int, default=2, help="claims: agent processes (2)")
    parser.add_argument(
        "--claim-modes", default="claim,next,take", help="claims: modes to run (claim,next,take)"
    )
    parser.add_argument("--sla-repeats", type=int, default=50, help="sla: timed sweeps (50)")
    parser.add_argument("--boost-streams", type=int, default=50, help="boosts: streams (50)")
    parser.add_argument("--spikes", type=int, default=120, help="boosts: metric spikes (120)")
    parser.add_argument(
        "--spike-every", type=float, default=2.0, help="boosts: mean seconds between spikes (2)"
    )
    parser.add_argument("--replay-runs", type=int, default=20, help="replay: timed runs (20)")
    parser.add_argument("--replay-rules", type=int, default=20, help="replay: rules (20)")
    args = parser.parse_args(argv)
    chosen = args.benchmarks or list(BENCHMARKS)
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark {', '.join(sorted(unknown))}")

    # SIGTERM unwinds like Ctrl-C, so every benchmark stops its subprocesses.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    env = prepare()
    failed = False
    for name in chosen:
        try:
            if name == "ingest":
                from . import ingest

                ingest.run(env, duration=args.duration, rate=args.rate, batch=args.batch)
            elif name == "fanout":
                from . import fanout

                fanout.run(
                    env,
                    clients=args.clients,
                    client_procs=args.client_procs,
                    phase_seconds=args.phase_seconds,
                    variants=args.variants.split(","),
                )
            elif name == "catchup":
                from . import catchup

                catchup.run(env, behind=args.events, repeats=args.repeats)
            elif name == "crash":
                from . import crash

                crash.run(env, rounds=args.rounds, senders=args.senders)
            elif name == "calendar":
                from . import calendar

                calendar.run(env, requests=args.requests)
            elif name == "scriptdiff":
                from . import scriptdiff

                scriptdiff.run(env, repeats=args.repeats * 40)
            elif name == "scriptsheet":
                from . import scriptsheet

                scriptsheet.run(env, requests=args.requests // 4)
            elif name == "live":
                from . import live

                live.run(
                    env,
                    duration=args.live_duration,
                    rate=args.live_rate,
                    walls=args.walls,
                    others=args.others,
                )
            elif name == "support":
                from . import support

                support.run(
                    env,
                    duration=args.support_duration,
                    rate=args.support_rate,
                    sockets=args.agent_sockets,
                    client_procs=args.client_procs,
                )
            elif name == "claims":
                from . import claims

                claims.run(
                    env,
                    seconds=args.claim_seconds,
                    agents=args.claim_agents,
                    procs=args.claim_procs,
                    groups=args.open_groups,
                    modes=args.claim_modes.split(","),
                )
            elif name == "sla":
                from . import sla

                sla.run(env, groups=args.open_groups, repeats=args.sla_repeats)
            elif name == "boosts":
                from . import boosts

                boosts.run(
                    env,
                    streams=args.boost_streams,
                    spikes=args.spikes,
                    spike_every=args.spike_every,
                )
            elif name == "replay":
                from . import replay

                replay.run(env, runs=args.replay_runs, rules=args.replay_rules)
        except Exception as exc:
            failed = True
            traceback.print_exc()
            log(f"{name} failed")
            emit({"benchmark": name, "error": f"{type(exc).__name__}: {exc}"})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
