from django.urls import path

from usage.plan import views as plan_views
from usage.reports import views as report_views

app_name = "usage"
urlpatterns = [
    path("", report_views.report, name="report"),
    path("live/", report_views.live, name="live"),
    path("history/", report_views.history, name="history"),
    path("export.csv", report_views.usage_export, name="export"),
    path("settings/", plan_views.settings_page, name="settings"),
    path("settings/plan/", plan_views.plan_save, name="settings-plan"),
    path("settings/alerts/", plan_views.alerts_save, name="settings-alerts"),
    path("settings/alerts/toggle/", plan_views.alerts_toggle, name="settings-alerts-toggle"),
    path("settings/overage/", plan_views.overage_toggle, name="settings-overage"),
    path("settings/cache/", plan_views.cache_toggle, name="settings-cache"),
    path("settings/cache/ttls/", plan_views.cache_ttls_save, name="settings-cache-ttls"),
]
