"""Object permissions (the `rules` library). Selectors apply the same rules to querysets."""

import rules

from .models import Role


def has_role(role: Role) -> rules.Predicate:
    @rules.predicate(name=f"has_role:{role.value}")
    def predicate(user) -> bool:
        return user.is_authenticated and user.groups.filter(name=role.value).exists()

    return predicate


@rules.predicate
def is_studio_member(user, studio) -> bool:
    return studio.members.filter(pk=user.pk).exists()


@rules.predicate
def is_stream_studio_member(user, stream) -> bool:
    return stream.studio.members.filter(pk=user.pk).exists()


@rules.predicate
def is_crew_member(user, stream) -> bool:
    return stream.crew.filter(person=user).exists()


is_producer = has_role(Role.PRODUCER)
is_room_operator = has_role(Role.ROOM_OPERATOR)

rules.add_perm("rooms.view_stream", rules.is_superuser | is_stream_studio_member | is_crew_member)
rules.add_perm("rooms.change_stream", rules.is_superuser | (is_producer & is_stream_studio_member))
rules.add_perm("rooms.add_stream", rules.is_superuser | (is_producer & is_studio_member))
# Crews are staffed by the producers of the stream's studio.
rules.add_perm("rooms.change_crew", rules.is_superuser | (is_producer & is_stream_studio_member))
# Wall screens are paired and unpaired by the studio's producers and room operators.
rules.add_perm(
    "rooms.pair_screen",
    rules.is_superuser | ((is_producer | is_room_operator) & is_studio_member),
)
# Studios and platform accounts (and their ingest secrets) are set up by administrators.
rules.add_perm("rooms.add_studio", rules.is_superuser)
rules.add_perm("rooms.change_channel", rules.is_superuser)
