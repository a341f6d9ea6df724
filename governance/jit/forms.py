"""Forms parse; the services decide. Choices come from what the user is eligible for now."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone

from governance.jit import eligibility
from governance.jit.models import Decision


class RequestForm(forms.Form):
    choice = forms.ChoiceField(label="Access", help_text="A permission set on an account, as your policies allow.")
    start = forms.ChoiceField(
        choices=[("now", "Now"), ("later", "At a later time")], initial="now", widget=forms.RadioSelect
    )
    starts_at = forms.DateTimeField(
        required=False,
        label="Start (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    duration_minutes = forms.IntegerField(label="Duration (minutes)", min_value=1, initial=60)
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    ticket = forms.CharField(required=False, max_length=128, label="Ticket (optional)")

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.choices = eligibility.choices_for(user)
        self.fields["choice"].choices = [
            (c.value, f"{c.label} — up to {c.policy.max_duration_minutes} min") for c in self.choices
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("start") == "later":
            when = cleaned.get("starts_at")
            if when is None:
                self.add_error("starts_at", "Give the start time, or choose Now.")
            elif timezone.is_naive(when):
                cleaned["starts_at"] = timezone.make_aware(when, timezone.UTC)
        else:
            cleaned["starts_at"] = None
        picked = cleaned.get("choice")
        cleaned["picked"] = next((c for c in self.choices if c.value == picked), None)
        return cleaned


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=Decision.choices)
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class ExtensionForm(forms.Form):
    duration_minutes = forms.IntegerField(label="More minutes", min_value=1, initial=30)
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    ticket = forms.CharField(required=False, max_length=128, label="Ticket (optional)")
