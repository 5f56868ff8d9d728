"""Forms of the support screens: a channel's support policy and its canned replies."""

import re
from datetime import timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Category, SupportPolicy
from .replies import REPLY_VARIABLES

# Lists are typed one per line or separated by commas (Chinese commas too: 码数，尺码).
_SEPARATORS = re.compile(r"[\n,，、]+")


class WordListField(forms.CharField):
    """A list of words or ids in a textarea; the raw text is kept when the form is refused."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2}))
        super().__init__(**kwargs)

    def to_python(self, value) -> list[str]:
        text = super().to_python(value)
        return list(dict.fromkeys(word.strip() for word in _SEPARATORS.split(text) if word.strip()))

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value


class SupportPolicyForm(forms.Form):
    sla_seconds = forms.IntegerField(
        label=_("Reply within (seconds)"),
        min_value=30,
        max_value=24 * 3600,
        help_text=_("Platforms score merchants on replying within 3 minutes (180 s)."),
    )
    warn_before_seconds = forms.IntegerField(
        label=_("Warn this many seconds before the deadline"), min_value=0
    )
    blocked_words = WordListField(
        label=_("Blocked words"), help_text=_("Comments with these are never questions.")
    )
    muted_users = WordListField(
        label=_("Muted viewers"), help_text=_("Platform user ids, one per line or comma-separated.")
    )
    vip_users = WordListField(
        label=_("VIP viewers"), help_text=_("Platform user ids; their questions go first.")
    )
    shipping_time = forms.CharField(
        label=_("Shipping time"),
        max_length=100,
        required=False,
        help_text=_("What {shipping} says in canned replies, e.g. 48小时内发货."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for category in Category:
            self.fields[f"keywords_{category.value}"] = WordListField(
                label=_("Keywords: %(category)s") % {"category": category.label},
                help_text=_("Added to the built-in words that put a question in this category."),
            )

    @classmethod
    def for_policy(cls, policy: SupportPolicy | None, data=None) -> "SupportPolicyForm":
        policy = policy or SupportPolicy()
        keywords = policy.keywords if isinstance(policy.keywords, dict) else {}
        initial = {
            "sla_seconds": int(policy.sla.total_seconds()),
            "warn_before_seconds": int(policy.warn_before.total_seconds()),
            "blocked_words": list(policy.blocked_words or []),
            "muted_users": list(policy.muted_users or []),
            "vip_users": list(policy.vip_users or []),
            "shipping_time": policy.shipping_time,
            **{
                f"keywords_{category}": list(keywords.get(category) or [])
                for category in Category.values
            },
        }
        return cls(data, initial=initial, prefix="policy")

    def clean(self):
        data = super().clean()
        sla, warn = data.get("sla_seconds"), data.get("warn_before_seconds")
        if sla is not None and warn is not None and warn >= sla:
            self.add_error(
                "warn_before_seconds", _("Warn before the deadline: less than the reply time.")
            )
        return data

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "sla": timedelta(seconds=data["sla_seconds"]),
            "warn_before": timedelta(seconds=data["warn_before_seconds"]),
            "keywords": {category: data[f"keywords_{category}"] for category in Category.values},
            "blocked_words": data["blocked_words"],
            "muted_users": data["muted_users"],
            "vip_users": data["vip_users"],
            "shipping_time": data["shipping_time"],
        }

    # The service names fields as the model does.
    SERVICE_FIELDS = {"sla": "sla_seconds", "warn_before": "warn_before_seconds"}


class CannedReplyForm(forms.Form):
    shortcut = forms.TypedChoiceField(
        label=_("Key"),
        choices=[("", "–"), *((str(n), str(n)) for n in range(1, 10))],
        coerce=int,
        empty_value=None,
        required=False,
        help_text=_("Agents press it to add this reply."),
    )
    title = forms.CharField(label=_("Title"), max_length=100)
    text = forms.CharField(
        label=_("Reply"),
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    category = forms.ChoiceField(
        label=_("Category"), choices=[("", _("Any")), *Category.choices], required=False
    )

    SERVICE_FIELDS: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["text"].help_text = _("Variables: %(names)s") % {
            "names": " ".join(f"{{{name}}}" for name in REPLY_VARIABLES)
        }
