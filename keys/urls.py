from django.urls import path

from keys import views

app_name = "keys"
urlpatterns = [
    path("", views.key_list, name="list"),
    path("new/", views.key_create, name="create"),
    path("<int:pk>/edit/", views.key_edit, name="edit"),
    path("<int:pk>/roll/", views.key_roll, name="roll"),
    path("<int:pk>/delete/", views.key_delete, name="delete"),
]
