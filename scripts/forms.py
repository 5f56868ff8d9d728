from django import forms
from django.utils.translation import gettext_lazy as _

from rooms.models import Stream, Studio


class ScriptCreateForm(forms.Form):
    studio = forms.ModelChoiceField(label=_("Studio"), queryset=Studio.objects.none())
    title = forms.CharField(label=_("Title"), max_length=200)

    def __init__(self, *args, studios, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["studio"].queryset = studios


class ScriptImportForm(forms.Form):
    file = forms.FileField(
        label=_("Script sheet (.csv or .xlsx)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )


class LockForm(forms.Form):
    override_reason = forms.CharField(
        label=_("Lock despite compliance errors, because"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class StreamScriptForm(forms.Form):
    stream = forms.ModelChoiceField(label=_("Stream"), queryset=Stream.objects.none())

    def __init__(self, *args, streams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stream"].queryset = streams
