"""Scripts: a host opens their memorisation sheet of a three-hour show, on screen and as PDF.

The script has 2,000 lines in 60 segments spoken by 8 roles, with verbatim spans and
product cues, locked. Pages are rendered in this process through Django's test client
(server time, `DEBUG` off, hashed static files), the sheet for the host's role and then
its PDF (WeasyPrint), after one warm-up each.
"""

import random
import subprocess
import sys
import time
import uuid
from datetime import timedelta

from django.db import transaction
from django.test import Client

from rooms import services as room_services
from rooms.models import CrewRole, Role
from scripts import services
from scripts.models import Cue, CueKind, Line, Segment

from .harness import PYTHON, ROOT, emit, log
from .stats import percentiles_ms

ROLES = (
    CrewRole.HOST,
    CrewRole.CO_HOST,
    CrewRole.ACTOR,
    CrewRole.ROOM_OPERATOR,
    CrewRole.FLOOR_CONTROLLER,
    CrewRole.CS_AGENT,
    CrewRole.AD_BUYER,
    CrewRole.CHEER,
)
PHRASES = ("家人们", "这款精华", "直播价", "只要", "今天下单", "还送小样", "库存不多了", "赶紧拍")


def run(env: dict[str, str], *, requests: int) -> dict:
    subprocess.run(
        [PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=sys.stderr,
    )
    run_id = uuid.uuid4().hex[:8]
    host, script = _script(run_id)
    client = Client(SERVER_NAME="localhost")
    client.force_login(host)
    figures = {"benchmark": "scriptsheet", "lines": 2000, "segments": 60, "roles": len(ROLES)}
    for name, url, repeats in (
        ("sheet", f"/scripts/{script.pk}/sheet/?role=host", requests),
        ("pdf", f"/scripts/{script.pk}/sheet/pdf/?role=host", max(3, requests // 20)),
    ):
        first = client.get(url)
        assert first.status_code == 200, first.status_code
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.get(url)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        figures[name] = {"bytes": len(response.content), **percentiles_ms(samples)}
        log(f"scriptsheet: {name} {figures[name]}")
    figures["host_lines"] = Line.objects.filter(
        segment__version__script=script, role=CrewRole.HOST
    ).count()
    emit(figures)
    return figures


def _script(run_id: str):
    log("scriptsheet: writing a 2,000-line script")
    producer = room_services.user_create(
        username=f"bench-{run_id}-writer", password="x", roles=[Role.PRODUCER]
    )
    host = room_services.user_create(
        username=f"bench-{run_id}-host", password="x", roles=[Role.HOST]
    )
    studio = room_services.studio_create(
        actor=None,
        name=f"bench-{run_id}-scripts",
        time_zone="Asia/Shanghai",
        members=[producer, host],
    )
    script = services.script_create(actor=producer, studio=studio, title=f"Bench {run_id}")
    version = script.versions.get()
    rng = random.Random(7)
    with transaction.atomic():
        segments = Segment.objects.bulk_create(
            Segment(
                version=version,
                key=uuid.uuid4(),
                position=i + 1,
                title=f"环节 {i + 1}",
                planned_duration=timedelta(minutes=3),
            )
            for i in range(60)
        )
        lines = []
        for n in range(2000):
            text = "，".join(rng.choice(PHRASES) for _ in range(5)) + f"{rng.randint(9, 399)}元！"
            lines.append(
                Line(
                    segment=segments[n * 60 // 2000],
                    key=uuid.uuid4(),
                    position=n + 1,
                    role=ROLES[n % len(ROLES)],
                    text=text,
                    verbatim=[[len(text) - 6, len(text) - 1]] if n % 5 == 0 else [],
                )
            )
        Line.objects.bulk_create(lines)
        Cue.objects.bulk_create(
            Cue(
                line=line,
                kind=CueKind.PIN,
                crew_role=CrewRole.ROOM_OPERATOR,
                link_number=1 + i % 30,
            )
            for i, line in enumerate(lines[::10])
        )
    services.version_lock(actor=producer, version=version, override_reason="Bench script")
    return host, script
