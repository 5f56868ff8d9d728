"""Object permissions for ad boosts (the `rules` library, like `rooms/rules.py`).

A stream's decision cards are seen by its ad buyers (投手, crewed on the stream or ad buyers
of its studio) and by the studio-wide roles (producers, room operators, ad approvers,
viewers). Ad buyers accept, edit and reject cards; a card above its rule's threshold also
needs an ad approver of the studio, who must be someone else (the services check that). The
kill switch is for anyone who may have to stop money in a hurry: ad buyers, approvers and
producers. An account's rules are written by ad buyers and read by whoever sees the account.
"""

import rules

from rooms.models import CrewRole, Role
from rooms.rules import has_role, has_studio_wide_role, is_producer, is_stream_studio_member


@rules.predicate
def is_stream_ad_buyer(user, stream) -> bool:
    return stream is not None and stream.crew.filter(person=user, role=CrewRole.AD_BUYER).exists()


is_ad_buyer = has_role(Role.AD_BUYER)
is_ad_approver = has_role(Role.AD_APPROVER)

buys_for_the_stream = is_stream_ad_buyer | (is_ad_buyer & is_stream_studio_member)

rules.add_perm(
    "ads.view_boosts",
    rules.is_superuser | buys_for_the_stream | (has_studio_wide_role & is_stream_studio_member),
)
rules.add_perm("ads.decide", rules.is_superuser | buys_for_the_stream)
rules.add_perm("ads.approve", rules.is_superuser | (is_ad_approver & is_stream_studio_member))
rules.add_perm(
    "ads.kill_stream",
    rules.is_superuser
    | buys_for_the_stream
    | ((is_ad_approver | is_producer) & is_stream_studio_member),
)
# An ad account spans the channel's streams in every studio: the role is enough.
rules.add_perm("ads.kill_account", rules.is_superuser | is_ad_buyer | is_ad_approver | is_producer)
# Rules spend money unattended: ad buyers write them; others who see the account read them.
rules.add_perm("ads.manage_rules", rules.is_superuser | is_ad_buyer)
