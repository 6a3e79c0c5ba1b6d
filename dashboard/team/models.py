"""An invitation: an account created by staff, waiting for its owner to set a password."""

from django.conf import settings
from django.db import models


class Invitation(models.Model):
    """Listed on the team page until the invitee sets a password (``accepted_at``).

    Revoking deletes it (and the account, if nothing else hangs on it), so a row here is
    always an invitation that is pending or was used.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitation"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True, help_text="The last email that went out.")
    send_error = models.CharField(
        max_length=300, blank=True, help_text="Why the last email could not be sent."
    )
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"invitation of {self.user.email}"
