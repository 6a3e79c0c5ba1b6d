from datetime import UTC, datetime

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from keys.models import ApiKey
from usage.metering import windows
from usage.models import (
    Alert,
    AlertDelivery,
    Call,
    HourUsage,
    KeylessCalls,
    MonthUsage,
    Plan,
    PlanChange,
)
from usage.plan import services
from usage.reports import export
from usage.reports.selectors import keyless_this_month


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "monthly_credits",
        "rate_limit",
        "overage",
        "alerts_enabled",
        "updated_at",
    ]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request, obj, form, change):
        # Through the service, so an admin edit lands in the change history like any other.
        fields = [
            "name",
            "monthly_credits",
            "rate_limit",
            "overage",
            "alerts_enabled",
            "thresholds",
            "recipients",
            "webhook_url",
        ]
        try:
            services.plan_update(actor=request.user, **{f: form.cleaned_data[f] for f in fields})
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)

    def has_add_permission(self, request):
        return not Plan.objects.exists()  # one plan, created on first use

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """The log and the counters are written by the proxy only: look, never touch."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Call)
class CallAdmin(ReadOnlyAdmin):
    list_display = [
        "at",
        "key",
        "method",
        "path",
        "status",
        "outcome",
        "credits",
        "overage",
        "latency_ms",
        "bytes",
    ]
    list_filter = ["outcome", "status", "overage", ("key", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["key"]
    date_hierarchy = "at"
    show_full_result_count = False  # no COUNT(*) over the whole log on every page
    actions = ["export_csv"]

    @admin.action(description="Export selected calls as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        # Streamed like the console's export, so "select all" over the whole log is fine.
        names = export.key_names(ApiKey.objects.all())  # a team's keys: a few hundred at most
        stamp = timezone.now().strftime("%Y-%m-%dT%H%M%SZ")
        return export.csv_response(
            export.calls_csv(queryset, names=names),
            filename=f"tollgate-calls-{stamp}.csv",
        )


@admin.register(KeylessCalls)
class KeylessCallsAdmin(ReadOnlyAdmin):
    """Calls refused without a valid key, per minute, address and outcome (a flood without
    a key costs a row per address per minute, not per call)."""

    list_display = ["minute_start", "address", "outcome", "calls", "bytes"]
    list_filter = ["outcome"]
    search_fields = ["address"]
    ordering = ["-minute", "address"]
    show_full_result_count = False

    @admin.display(description="minute (UTC)", ordering="minute")
    def minute_start(self, obj) -> str:
        return datetime.fromtimestamp(obj.minute * 60, UTC).strftime("%Y-%m-%d %H:%M")

    def changelist_view(self, request, extra_context=None):
        summary = keyless_this_month(windows.utc_now())
        self.message_user(
            request,
            f"Refused without a valid key: {summary.calls} calls from "
            f"{summary.addresses} addresses this month.",
            messages.INFO,
        )
        return super().changelist_view(request, extra_context)


@admin.register(HourUsage)
class HourUsageAdmin(ReadOnlyAdmin):
    list_display = ["hour", "key_ref", "outcome", "calls", "credits", "overage_calls", "bytes"]
    list_filter = ["outcome"]
    date_hierarchy = "hour"


@admin.register(MonthUsage)
class MonthUsageAdmin(ReadOnlyAdmin):
    list_display = ["month", "key_ref", "credits_used", "overage_calls"]


@admin.register(PlanChange)
class PlanChangeAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "field", "old", "new"]
    list_filter = ["field"]
    search_fields = ["actor", "field"]
    date_hierarchy = "at"


class AlertDeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = ["channel", "target", "state", "attempts", "next_attempt_at", "sent_at", "last_error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "scope", "month", "threshold", "state", "calls", "credits"]
    list_filter = ["month", "threshold", "state"]
    inlines = [AlertDeliveryInline]


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyAdmin):
    """Pending rows are alerts still waiting (SMTP or the webhook down); they retry alone."""

    list_display = [
        "alert",
        "channel",
        "target",
        "state",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    ]
    list_filter = ["state", "channel"]
    list_select_related = ["alert"]
    search_fields = ["target"]
