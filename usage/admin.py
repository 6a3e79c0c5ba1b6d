from django.contrib import admin
from django.utils import timezone

from keys.models import ApiKey
from usage import export
from usage.models import Call, HourUsage, MonthUsage, Plan


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "monthly_credits", "rate_limit", "overage", "updated_at"]

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


@admin.register(HourUsage)
class HourUsageAdmin(ReadOnlyAdmin):
    list_display = ["hour", "key_ref", "outcome", "calls", "credits", "overage_calls", "bytes"]
    list_filter = ["outcome"]
    date_hierarchy = "hour"


@admin.register(MonthUsage)
class MonthUsageAdmin(ReadOnlyAdmin):
    list_display = ["month", "key_ref", "credits_used", "overage_calls"]
