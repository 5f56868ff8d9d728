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

rules.add_perm("rooms.view_stream", rules.is_superuser | is_stream_studio_member | is_crew_member)
rules.add_perm("rooms.change_stream", rules.is_superuser | (is_producer & is_stream_studio_member))
rules.add_perm("rooms.add_stream", rules.is_superuser | (is_producer & is_studio_member))
