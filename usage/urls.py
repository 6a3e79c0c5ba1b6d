from django.urls import path

from usage import export, views

app_name = "usage"
urlpatterns = [
    path("", views.report, name="report"),
    path("live/", views.live, name="live"),
    path("history/", views.history, name="history"),
    path("export.csv", export.usage_export, name="export"),
]
