import os

from django.core.management.base import BaseCommand

from rooms import demo


class Command(BaseCommand):
    help = "Create demo studios, channels, streams, crew and one login per role (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default="demo-pass-2026",
            help="Password for every demo login (default: %(default)s).",
        )

    def handle(self, *args, password: str, **options):
        world = demo.seed(password=password)
        port = os.environ.get("MCN_PORT", "8000")
        stream = world.live_stream
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Console:      http://127.0.0.1:{port}/")
        self.stdout.write(f"  Live stream:  #{stream.pk} {stream.title}")
        self.stdout.write(f"  Events page:  http://127.0.0.1:{port}/streams/{stream.pk}/events/")
        self.stdout.write(f"  Logins (password: {password}):")
        self.stdout.write("    admin       superuser (Django admin at /admin/)")
        for person in demo.PEOPLE:
            roles = ", ".join(str(role.label) for role in person.roles)
            self.stdout.write(f"    {person.username:<11} {roles}")
