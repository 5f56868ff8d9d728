import zoneinfo
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import (
    LINEUP_FIELD_NAMES,
    Channel,
    CrewRole,
    LineupItem,
    LineupSet,
    Stream,
    Studio,
    User,
    Weekday,
)
from .schedule import Hours


def _time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=_time_zone_choices)


class LanguageForm(forms.Form):
    language = forms.ChoiceField(choices=settings.LANGUAGES)


# --- Planning ----------------------------------------------------------------------------


# Plans are made for this century; anything else is a typo, and would overflow date sums.
FIRST_YEAR, LAST_YEAR = 2000, 2099


def validate_planning_year(value) -> None:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise forms.ValidationError(
            _("Pick a date between %(first)s and %(last)s.")
            % {"first": FIRST_YEAR, "last": LAST_YEAR}
        )


def _date(label: str, **kwargs) -> forms.DateField:
    return forms.DateField(
        label=label,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_planning_year],
        **kwargs,
    )


def _minutes(label: str, initial: int) -> forms.IntegerField:
    return forms.IntegerField(label=label, min_value=0, max_value=24 * 60, initial=initial)


class LocalDateTimeField(forms.DateTimeField):
    """A wall-clock date and time, made aware later in the zone the form says (the studio's)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": 300})
    input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
    default_validators = [validate_planning_year]

    def to_python(self, value):
        # Parse without the active time zone: the studio's zone is applied in the form.
        if value in self.empty_values:
            return None
        for fmt in self.input_formats:
            try:
                return datetime.strptime(str(value).strip(), fmt)  # noqa: DTZ007 (zone set in clean)
            except ValueError:
                continue
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


class StreamForm(forms.Form):
    """A stream's plan; start and end are wall-clock times in the chosen studio."""

    title = forms.CharField(label=_("Title"), max_length=200)
    studio = forms.ModelChoiceField(label=_("Studio"), queryset=Studio.objects.none())
    channel = forms.ModelChoiceField(label=_("Channel"), queryset=Channel.objects.order_by("name"))
    planned_start = LocalDateTimeField(label=_("Starts (studio time)"))
    planned_end = LocalDateTimeField(label=_("Ends (studio time)"))
    setup_minutes = _minutes(_("Studio set-up before (minutes)"), 30)
    teardown_minutes = _minutes(_("Studio teardown after (minutes)"), 15)
    required_roles = forms.MultipleChoiceField(
        label=_("Crew roles to fill"),
        choices=CrewRole.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    notes = forms.CharField(
        label=_("Notes"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )

    def __init__(self, *args, studios, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["studio"].queryset = studios

    def clean(self):
        data = super().clean()
        studio = data.get("studio")
        if studio and data.get("planned_start") and data.get("planned_end"):
            zone = ZoneInfo(studio.time_zone)
            for name in ("planned_start", "planned_end"):
                wall = data[name]
                aware = wall.replace(tzinfo=zone)
                # A time skipped when the clocks go forward would silently move by an hour.
                if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
                    self.add_error(
                        name,
                        _("%(time)s does not exist in %(zone)s: the clocks change then.")
                        % {"time": f"{wall:%Y-%m-%d %H:%M}", "zone": studio.time_zone},
                    )
                data[name] = aware
        return data

    def plan(self) -> dict:
        """The cleaned plan in the shape `services.stream_create` / `stream_update` take."""
        data = self.cleaned_data
        return {
            "title": data["title"],
            "studio": data["studio"],
            "channel": data["channel"],
            "planned_start": data["planned_start"],
            "planned_end": data["planned_end"],
            "setup_before": timedelta(minutes=data["setup_minutes"]),
            "teardown_after": timedelta(minutes=data["teardown_minutes"]),
            "required_roles": data["required_roles"],
            "notes": data["notes"],
        }

    @classmethod
    def initial_for(cls, stream: Stream) -> dict:
        zone = ZoneInfo(stream.studio.time_zone)
        return {
            "title": stream.title,
            "studio": stream.studio,
            "channel": stream.channel,
            "planned_start": stream.planned_start.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
            "planned_end": stream.planned_end.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
            "setup_minutes": int(stream.setup_before.total_seconds() // 60),
            "teardown_minutes": int(stream.teardown_after.total_seconds() // 60),
            "required_roles": stream.required_roles,
            "notes": stream.notes,
        }


class CrewAssignForm(forms.Form):
    person = forms.ModelChoiceField(label=_("Person"), queryset=User.objects.none())
    role = forms.ChoiceField(label=_("Role"), choices=CrewRole.choices)
    call_before = forms.IntegerField(
        label=_("Call before start (minutes)"),
        min_value=0,
        max_value=12 * 60,
        required=False,
        help_text=_("Empty: the usual call for the role."),
    )
    stays_after = forms.IntegerField(
        label=_("Stays after end (minutes)"), min_value=0, max_value=12 * 60, required=False
    )
    accept_availability = forms.BooleanField(
        label=_("Assign even though they may not be available"), required=False
    )

    def __init__(self, *args, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = people


class LineupItemForm(forms.ModelForm):
    class Meta:
        model = LineupItem
        fields = LINEUP_FIELD_NAMES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["link_number"].required = False


class LineupImportForm(forms.Form):
    file = forms.FileField(
        label=_("Lineup sheet (.csv or .xlsx)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )


class LineupSetChoiceForm(forms.Form):
    lineup_set = forms.ModelChoiceField(
        label=_("Lineup set"), queryset=LineupSet.objects.order_by("name")
    )


class LineupSetNameForm(forms.Form):
    name = forms.CharField(label=_("Save this lineup as a set named"), max_length=100)


class ReadinessOverrideForm(forms.Form):
    reason = forms.CharField(
        label=_("Why may the stream go live regardless?"),
        widget=forms.Textarea(attrs={"rows": 2}),
        min_length=5,
    )


class TemplateUseForm(forms.Form):
    """When to run a template: one day, or repeated by an RFC 5545 rule."""

    REPEAT_CHOICES = [
        ("", _("Only this day")),
        ("FREQ=DAILY", _("Every day")),
        ("FREQ=WEEKLY", _("Every week on this weekday")),
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", _("Every weekday (Mon–Fri)")),
        ("custom", _("Custom rule (RRULE)")),
    ]

    first_day = _date(_("First day"))
    repeat = forms.ChoiceField(label=_("Repeat"), choices=REPEAT_CHOICES, required=False)
    count = forms.IntegerField(
        label=_("Times"), min_value=1, max_value=120, initial=7, required=False
    )
    rule = forms.CharField(
        label=_("Rule"),
        required=False,
        help_text=_("e.g. FREQ=WEEKLY;BYDAY=TU,TH;COUNT=8"),
        max_length=300,
    )

    def clean(self):
        data = super().clean()
        repeat = data.get("repeat") or ""
        if repeat == "custom":
            if not data.get("rule"):
                self.add_error("rule", _("Write the rule, or pick a simpler repeat."))
            data["rrule"] = data.get("rule", "")
        elif repeat:
            data["rrule"] = f"{repeat};COUNT={data.get('count') or 7}"
        else:
            data["rrule"] = "FREQ=DAILY;COUNT=1"
        return data


class TemplateForm(forms.Form):
    name = forms.CharField(label=_("Template name"), max_length=100)
    studio = forms.ModelChoiceField(label=_("Studio"), queryset=Studio.objects.none())
    channel = forms.ModelChoiceField(label=_("Channel"), queryset=Channel.objects.order_by("name"))
    title = forms.CharField(label=_("Stream title"), max_length=200)
    start_time = forms.TimeField(
        label=_("Starts at (studio time)"), widget=forms.TimeInput(attrs={"type": "time"})
    )
    duration_minutes = forms.IntegerField(
        label=_("Duration (minutes)"), min_value=1, max_value=24 * 60, initial=180
    )
    setup_minutes = _minutes(_("Studio set-up before (minutes)"), 30)
    teardown_minutes = _minutes(_("Studio teardown after (minutes)"), 15)
    lineup_set = forms.ModelChoiceField(
        label=_("Lineup set"), queryset=LineupSet.objects.order_by("name"), required=False
    )
    notes = forms.CharField(
        label=_("Notes"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )

    NOT_NEEDED = "-"

    def __init__(self, *args, studios, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["studio"].queryset = studios
        person_choices = [
            (self.NOT_NEEDED, _("— not needed —")),
            ("", _("to fill per stream")),
            *[(str(p.pk), str(p)) for p in people],
        ]
        for role in CrewRole:
            self.fields[f"slot_{role.value}"] = forms.ChoiceField(
                label=role.label, choices=person_choices, required=False
            )
        self.people = {str(p.pk): p for p in people}

    def slot_fields(self):
        return [self[f"slot_{role.value}"] for role in CrewRole]

    def slots(self) -> list[tuple[str, User | None]]:
        chosen = []
        for role in CrewRole:
            value = self.cleaned_data.get(f"slot_{role.value}", self.NOT_NEEDED)
            if value != self.NOT_NEEDED:
                chosen.append((role.value, self.people.get(value)))
        return chosen

    def template_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "studio": data["studio"],
            "channel": data["channel"],
            "title": data["title"],
            "start_time": data["start_time"],
            "duration": timedelta(minutes=data["duration_minutes"]),
            "setup_before": timedelta(minutes=data["setup_minutes"]),
            "teardown_after": timedelta(minutes=data["teardown_minutes"]),
            "lineup_set": data["lineup_set"],
            "notes": data["notes"],
            "slots": self.slots(),
        }


class StudioForm(forms.ModelForm):
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=_time_zone_choices)

    class Meta:
        model = Studio
        fields = ["name", "time_zone", "members"]
        widgets = {"members": forms.CheckboxSelectMultiple}


class ChannelForm(forms.ModelForm):
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=_time_zone_choices)

    class Meta:
        model = Channel
        fields = ["key", "name", "platform", "currency", "time_zone"]


class TimeOffForm(forms.Form):
    first_day = _date(_("First day"))
    last_day = _date(_("Last day"))
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class WorkingHoursForm(forms.Form):
    """One row per weekday: from/until, empty for a day not worked."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for day in Weekday:
            for end in ("starts", "ends"):
                self.fields[f"{end}_{day.value}"] = forms.TimeField(
                    label=day.label, required=False, widget=forms.TimeInput(attrs={"type": "time"})
                )

    def days(self):
        return [(day, self[f"starts_{day.value}"], self[f"ends_{day.value}"]) for day in Weekday]

    def clean(self):
        data = super().clean()
        for day in Weekday:
            starts, ends = data.get(f"starts_{day.value}"), data.get(f"ends_{day.value}")
            if (starts is None) != (ends is None):
                self.add_error(f"ends_{day.value}", _("Give both times, or neither."))
        return data

    def hours(self) -> list[Hours]:
        data = self.cleaned_data
        return [
            Hours(day.value, data[f"starts_{day.value}"], data[f"ends_{day.value}"])
            for day in Weekday
            if data.get(f"starts_{day.value}") is not None
        ]


# --- Screens -----------------------------------------------------------------------------


class ScreenPairForm(forms.Form):
    """Someone signed in enters the code a wall screen shows (RFC 8628's user side)."""

    LIFETIMES = [
        ("1d", _("1 day")),
        ("7d", _("7 days")),
        ("30d", _("30 days")),
        ("90d", _("90 days")),
    ]

    code = forms.CharField(
        label=_("Code shown on the screen"),
        max_length=20,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "placeholder": "BCDF-GHJK",
                "autofocus": True,
            }
        ),
    )
    studio = forms.ModelChoiceField(label=_("Studio"), queryset=Studio.objects.none())
    name = forms.CharField(
        label=_("Screen name"),
        max_length=100,
        help_text=_("As the list of screens shows it, e.g. “Studio A wall”."),
    )
    lifetime = forms.ChoiceField(label=_("Stays paired for"), choices=LIFETIMES, initial="30d")

    def __init__(self, *args, studios, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["studio"].queryset = studios
        if len(studios) == 1:
            self.fields["studio"].initial = studios[0].pk
