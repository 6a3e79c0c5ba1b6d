from datetime import UTC, datetime, timedelta

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.functional import cached_property

from keys.models import ApiKey
from usage.metering import windows
from usage.models import (
    NO_KEY_REF,
    PLAN_REF,
    Alert,
    AlertDelivery,
    Call,
    HourUsage,
    KeylessCalls,
    MonthUsage,
    Outcome,
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


def number(value) -> str:
    """A count as people read it: 1,234,567."""
    return f"{value:,}" if value is not None else "—"


def outcome_words(outcome: str) -> str:
    """ "upstream_error" as "Upstream error", the console's words."""
    label = Outcome(outcome).label if outcome in Outcome.values else outcome
    return label[:1].upper() + label[1:]


class WithKeyLabel:
    """Counters name a key by its id (``key_ref``): show its label instead, read in the
    same query (a subquery), with the plan and calls without a key in words."""

    def get_queryset(self, request):
        label = ApiKey.objects.filter(pk=OuterRef("key_ref")).values("label")[:1]
        return super().get_queryset(request).annotate(key_label=Subquery(label))

    @admin.display(description="key", ordering="key_ref")
    def key_name(self, obj) -> str:
        if obj.key_ref == PLAN_REF:
            return "The whole plan"
        if obj.key_ref == NO_KEY_REF:
            return "No valid key"
        return obj.key_label or f"key #{obj.key_ref}"


class ReadOnlyAdmin(admin.ModelAdmin):
    """The log and the counters are written by the proxy only: look, never touch."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# The call log's admin stays fast however long the log (bench/report.py times it at 1M):
# no COUNT over the whole log (the paginator counts to a bound), choices that come from
# small tables or fixed lists (never a DISTINCT over the log), an ordering an index
# serves (the id unfiltered; (key, at) for one key), a time filter instead of the date
# hierarchy (which reads every row's date to draw its years and months).
COUNT_BOUND = 10_000


class BoundedCountPaginator(Paginator):
    """Counts matching calls up to COUNT_BOUND + 1 (a LIMIT in a subquery), not all of
    them: past that, the list says "more than 10,000 calls" and pages stop there; a filter
    narrows it (the CSV export always takes the whole selection)."""

    bound = COUNT_BOUND

    @cached_property
    def count(self) -> int:
        self.bound = COUNT_BOUND
        return self.object_list[: self.bound + 1].count()

    @property
    def bounded(self) -> bool:
        """Whether there are more matching calls than were counted."""
        return self.count > self.bound


class CallTimeFilter(admin.SimpleListFilter):
    title = "time"
    parameter_name = "when"

    def lookups(self, request, model_admin):
        return [
            ("hour", "Last hour"),
            ("day", "Last 24 hours"),
            ("week", "Last 7 days"),
            ("month", "Last 30 days"),
        ]

    def queryset(self, request, queryset):
        spans = {"hour": 1, "day": 24, "week": 24 * 7, "month": 24 * 30}
        hours = spans.get(self.value())
        if hours is None:
            return queryset
        return queryset.filter(at__gte=timezone.now() - timedelta(hours=hours))


class CallStatusFilter(admin.SimpleListFilter):
    """Status classes, not every status seen (which would read the whole log)."""

    title = "status"
    parameter_name = "status_class"

    def lookups(self, request, model_admin):
        return [("2", "2xx success"), ("4", "4xx refused or bad"), ("5", "5xx upstream failed")]

    def queryset(self, request, queryset):
        if self.value() in ("2", "4", "5"):
            low = int(self.value()) * 100
            return queryset.filter(status__gte=low, status__lt=low + 100)
        return queryset


@admin.register(Call)
class CallAdmin(ReadOnlyAdmin):
    list_display = [
        "time",
        "key",
        "method",
        "path",
        "status",
        "outcome_shown",
        "credits_shown",
        "overage",
        "latency",
        "size",
    ]
    # The keys' filter lists keys from their own table (RelatedOnlyFieldListFilter would
    # ask the log which keys it holds); outcome and overage have fixed choices.
    list_filter = [
        CallTimeFilter,
        "outcome",
        CallStatusFilter,
        "overage",
        ("key", admin.RelatedFieldListFilter),
    ]
    list_select_related = ["key"]
    show_full_result_count = False  # no COUNT(*) over the whole log on every page
    paginator = BoundedCountPaginator
    actions = ["export_csv"]

    def get_ordering(self, request):
        # Newest first by id (the primary key's index); one key's calls by time through
        # the (key, at) index, which would otherwise sort all that key's calls.
        if "key__id__exact" in request.GET:
            return ["-at", "-id"]
        return ["-id"]

    @admin.display(description="time (UTC)", ordering="at")
    def time(self, obj) -> str:
        return obj.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="outcome", ordering="outcome")
    def outcome_shown(self, obj) -> str:
        return outcome_words(obj.outcome)

    @admin.display(description="credit", ordering="credits")
    def credits_shown(self, obj) -> str:
        return number(obj.credits)

    @admin.display(description="latency (ms)", ordering="latency_ms")
    def latency(self, obj) -> str:
        return "—" if obj.latency_ms is None else f"{obj.latency_ms:,.1f}"

    @admin.display(description="bytes", ordering="bytes")
    def size(self, obj) -> str:
        return number(obj.bytes)

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

    list_display = ["minute_start", "address", "outcome_shown", "requests", "size"]
    list_filter = ["outcome"]
    search_fields = ["address"]
    ordering = ["-minute", "address"]
    show_full_result_count = False

    @admin.display(description="outcome", ordering="outcome")
    def outcome_shown(self, obj) -> str:
        return outcome_words(obj.outcome)

    @admin.display(description="requests", ordering="calls")
    def requests(self, obj) -> str:
        return number(obj.calls)

    @admin.display(description="bytes", ordering="bytes")
    def size(self, obj) -> str:
        return number(obj.bytes)

    @admin.display(description="minute (UTC)", ordering="minute")
    def minute_start(self, obj) -> str:
        return datetime.fromtimestamp(obj.minute * 60, UTC).strftime("%Y-%m-%d %H:%M")

    def changelist_view(self, request, extra_context=None):
        summary = keyless_this_month(windows.utc_now())
        self.message_user(
            request,
            f"Refused without a valid key: {summary.calls:,} requests from "
            f"{summary.addresses:,} addresses this month.",
            messages.INFO,
        )
        return super().changelist_view(request, extra_context)


@admin.register(HourUsage)
class HourUsageAdmin(WithKeyLabel, ReadOnlyAdmin):
    list_display = ["hour", "key_name", "endpoint", "outcome_shown", "requests", "credits_used"]
    list_filter = ["outcome"]
    date_hierarchy = "hour"

    @admin.display(description="outcome", ordering="outcome")
    def outcome_shown(self, obj) -> str:
        return outcome_words(obj.outcome)

    @admin.display(description="requests", ordering="calls")
    def requests(self, obj) -> str:
        return number(obj.calls)

    @admin.display(description="credits used (overage included)")
    def credits_used(self, obj) -> str:
        return number(obj.credits + obj.overage_calls)


@admin.register(MonthUsage)
class MonthUsageAdmin(WithKeyLabel, ReadOnlyAdmin):
    list_display = ["month", "key_name", "credits", "overage"]

    @admin.display(description="credits used within the monthly credits", ordering="credits_used")
    def credits(self, obj) -> str:
        return number(obj.credits_used)

    @admin.display(description="overage", ordering="overage_calls")
    def overage(self, obj) -> str:
        return number(obj.overage_calls)


@admin.register(PlanChange)
class PlanChangeAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "setting_shown", "old_value", "new_value"]
    list_filter = ["field"]
    search_fields = ["actor", "field"]
    date_hierarchy = "at"

    @admin.display(description="setting", ordering="field")
    def setting_shown(self, obj) -> str:
        return obj.setting

    @admin.display(description="from")
    def old_value(self, obj) -> str:
        return obj.old_shown or "—"

    @admin.display(description="to")
    def new_value(self, obj) -> str:
        return obj.new_shown or "—"


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
    list_display = ["created_at", "scope_shown", "month", "percent", "state", "used", "of"]
    list_filter = ["month", "threshold", "state"]
    inlines = [AlertDeliveryInline]

    @admin.display(description="plan or key", ordering="scope")
    def scope_shown(self, obj) -> str:
        return (
            "The plan"
            if obj.scope == PLAN_REF
            else f"Key “{obj.details.get('scope_name', obj.scope)}”"
        )

    @admin.display(description="threshold", ordering="threshold")
    def percent(self, obj) -> str:
        return f"{obj.threshold} %"

    @admin.display(description="credits used at the crossing", ordering="calls")
    def used(self, obj) -> str:
        return number(obj.calls)

    @admin.display(description="of monthly credits", ordering="credits")
    def of(self, obj) -> str:
        return number(obj.credits)


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
