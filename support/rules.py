"""Object permissions for the support queue (the `rules` library, like `rooms/rules.py`).

A stream's questions are worked by its CS agents (客服, crewed on the stream) and by the
studio's producers and room operators, who step in when the queue runs hot; the stream's
room operator and floor controller also see it. Supervisors — producers — edit a channel's
policy and canned replies, set agents' capacity and skills, and read the statistics.
"""

import rules

from rooms.models import CrewRole
from rooms.rules import is_producer, is_room_operator, is_stream_studio_member, runs_the_show


@rules.predicate
def is_stream_cs_agent(user, stream) -> bool:
    return stream is not None and stream.crew.filter(person=user, role=CrewRole.CS_AGENT).exists()


works_the_queue = (
    rules.is_superuser
    | is_stream_cs_agent
    | ((is_producer | is_room_operator) & is_stream_studio_member)
)

rules.add_perm("support.work_queue", works_the_queue)
# The floor sees the queue too: escalated questions are the host's to answer on air.
rules.add_perm("support.view_queue", works_the_queue | runs_the_show)
rules.add_perm("support.supervise", rules.is_superuser | is_producer)
