from django.urls import path

from dashboard.team import views

app_name = "team"
urlpatterns = [
    path("", views.team, name="page"),
    path("invite/", views.invite, name="invite"),
    path("invitations/<int:pk>/resend/", views.resend, name="resend"),
    path("invitations/<int:pk>/revoke/", views.revoke, name="revoke"),
    path("members/<int:pk>/deactivate/", views.deactivate, name="deactivate"),
    path("members/<int:pk>/reactivate/", views.reactivate, name="reactivate"),
    path("welcome/<uidb64>/<token>/", views.AcceptInvitationView.as_view(), name="accept"),
]
