from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from rooms import demo, selectors, simulator
from rooms.models import Stream


class Command(BaseCommand):
    help = (
        "Drive a realistic live stream through the ingest webhook with signed HTTP requests. "
        "STREAM is a stream id, or 'demo' for the stream seed_demo scheduled for now."
    )

    def add_arguments(self, parser):
        parser.add_argument("stream", help="Stream id, or 'demo'.")
        parser.add_argument(
            "--rate",
            type=float,
            default=1.0,
            help="Audience multiplier; scales every event stream (default 1).",
        )
        parser.add_argument(
            "--duration",
            type=float,
            default=None,
            help="Seconds to stream before ending it (default: until stopped).",
        )
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where the console listens (default: %(default)s).",
        )
        parser.add_argument("--seed", type=int, default=None, help="Random seed.")

    def handle(
        self,
        *args,
        stream: str,
        rate: float,
        duration: float | None,
        base_url: str,
        seed: int | None,
        **options,
    ):
        if rate <= 0:
            raise CommandError("--rate must be positive")
        target = self._stream(stream)
        (receiving,) = selectors.streams_for_platform_events(target.channel_id, [timezone.now()])
        if receiving != target:
            raise CommandError(
                f"stream #{target.pk} would not receive events sent now: platform events go to "
                f"the channel's stream that is live or scheduled around the present "
                f"({'#' + str(receiving.pk) if receiving else 'none'} on {target.channel.key})"
            )
        secrets = selectors.channel_active_secrets(target.channel)
        if not secrets:
            raise CommandError(f"channel {target.channel.key} has no active ingest secret")
        self.stdout.write(
            f"simulator: streaming to #{target.pk} {target.title} on {target.channel.key} "
            f"via {base_url} (rate {rate:g})"
        )
        webhook = simulator.Webhook(
            base_url=base_url, channel_key=target.channel.key, secret=secrets[-1]
        )
        try:
            sent = simulator.run(
                webhook=webhook, rate=rate, duration=duration, seed=seed, report=self.stdout.write
            )
        except KeyboardInterrupt:
            return
        self.stdout.write(self.style.SUCCESS(f"simulator: done, {sent} events sent"))

    def _stream(self, stream: str) -> Stream:
        if stream == "demo":
            found = demo.current_demo_stream()
            if found is None:
                raise CommandError("no demo stream is scheduled for now; run seed_demo first")
            return found
        try:
            return Stream.objects.select_related("channel").get(pk=int(stream))
        except (ValueError, Stream.DoesNotExist):
            raise CommandError(f"no stream {stream!r}") from None
