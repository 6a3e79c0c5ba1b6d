from django.urls import path

from usage import export, settings_views, views

app_name = "usage"
urlpatterns = [
    path("", views.report, name="report"),
    path("live/", views.live, name="live"),
    path("history/", views.history, name="history"),
    path("export.csv", export.usage_export, name="export"),
    path("settings/", settings_views.settings_page, name="settings"),
    path("settings/plan/", settings_views.plan_save, name="settings-plan"),
    path("settings/alerts/", settings_views.alerts_save, name="settings-alerts"),
    path("settings/alerts/toggle/", settings_views.alerts_toggle, name="settings-alerts-toggle"),
    path("settings/overage/", settings_views.overage_toggle, name="settings-overage"),
]
