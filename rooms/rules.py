"""Object permissions (the `rules` library). Selectors apply the same rules to querysets.

Who sees which streams: producers, room operators, ad approvers and viewers see every stream
of the studios they belong to; everyone else (hosts, floor, CS agents, ad buyers) sees the
streams they are crewed on.
"""

import rules

from .models import CrewRole, Role, Studio, has_any_role

# Roles whose work spans a whole studio rather than the streams they are crewed on.
STUDIO_WIDE_ROLES = frozenset({Role.PRODUCER, Role.ROOM_OPERATOR, Role.AD_APPROVER, Role.VIEWER})


def has_role(role: Role) -> rules.Predicate:
    @rules.predicate(name=f"has_role:{role.value}")
    def predicate(user) -> bool:
        return has_any_role(user, (role.value,))

    return predicate


@rules.predicate
def has_studio_wide_role(user) -> bool:
    return has_any_role(user, STUDIO_WIDE_ROLES)


@rules.predicate
def is_studio_member(user, studio) -> bool:
    return studio.members.filter(pk=user.pk).exists()


@rules.predicate
def is_stream_studio_member(user, stream) -> bool:
    return stream.studio.members.filter(pk=user.pk).exists()


@rules.predicate
def is_crew_member(user, stream) -> bool:
    return stream.crew.filter(person=user).exists()


@rules.predicate
def runs_the_show(user, stream) -> bool:
    return stream.crew.filter(
        person=user, role__in=[CrewRole.ROOM_OPERATOR, CrewRole.FLOOR_CONTROLLER]
    ).exists()


@rules.predicate
def is_self(user, person) -> bool:
    return person is not None and user.pk == person.pk


@rules.predicate
def shares_a_studio(user, person) -> bool:
    # Not `person.studios.filter(members=user)`: a related manager's filter reuses its join,
    # which would ask for one membership row that is both people.
    return (
        person is not None and Studio.objects.filter(members=person).filter(members=user).exists()
    )


is_producer = has_role(Role.PRODUCER)
is_room_operator = has_role(Role.ROOM_OPERATOR)

rules.add_perm(
    "rooms.view_stream",
    rules.is_superuser | (has_studio_wide_role & is_stream_studio_member) | is_crew_member,
)
rules.add_perm("rooms.change_stream", rules.is_superuser | (is_producer & is_stream_studio_member))
rules.add_perm("rooms.add_stream", rules.is_superuser | (is_producer & is_studio_member))
# Crews and lineups are planned by the producers of the stream's studio.
rules.add_perm("rooms.change_crew", rules.is_superuser | (is_producer & is_stream_studio_member))
rules.add_perm("rooms.change_lineup", rules.is_superuser | (is_producer & is_stream_studio_member))
# Templates belong to a studio; lineup sets are shared across studios by producers.
rules.add_perm("rooms.change_template", rules.is_superuser | (is_producer & is_studio_member))
rules.add_perm("rooms.change_lineup_set", rules.is_superuser | is_producer)
# The run-of-show is driven by the room operators (中控) of the studio, the stream's own room
# operator and floor controller (场控), and its producers.
rules.add_perm(
    "rooms.run_show",
    rules.is_superuser
    | ((is_producer | is_room_operator) & is_stream_studio_member)
    | runs_the_show,
)
# Wall screens are paired and unpaired by the studio's producers and room operators.
rules.add_perm(
    "rooms.pair_screen",
    rules.is_superuser | ((is_producer | is_room_operator) & is_studio_member),
)
# Producers set up studios (joining them) and channels and edit their own studios; ingest
# secrets are only ever handled by administrators.
rules.add_perm("rooms.add_studio", rules.is_superuser | is_producer)
rules.add_perm("rooms.change_studio", rules.is_superuser | (is_producer & is_studio_member))
rules.add_perm("rooms.add_channel", rules.is_superuser | is_producer)
rules.add_perm("rooms.change_channel", rules.is_superuser | is_producer)
rules.add_perm("rooms.manage_channel_secrets", rules.is_superuser)
# A person's availability and calendar: themselves, and producers of a studio they are in.
rules.add_perm(
    "rooms.view_person_schedule", rules.is_superuser | is_self | (is_producer & shares_a_studio)
)
rules.add_perm(
    "rooms.change_availability", rules.is_superuser | is_self | (is_producer & shares_a_studio)
)
