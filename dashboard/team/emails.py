"""The invitation email: rendered from templates/emails/invite-*.txt, sent by Django's mail.

Like the alerts, it goes through EMAIL_HOST when one is configured and to the console log
otherwise. Links point at CONSOLE_URL, never at whatever Host header a request carried.
"""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from dashboard.team.tokens import invite_tokens


def invite_link(user) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse("team:accept", kwargs={"uidb64": uid, "token": invite_tokens.make_token(user)})
    return settings.CONSOLE_URL.rstrip("/") + path


def invite_message(invitation) -> EmailMultiAlternatives:
    context = {
        "invitation": invitation,
        "user": invitation.user,
        "link": invite_link(invitation.user),
        "valid_days": settings.INVITE_VALID_DAYS,
        "console_url": settings.CONSOLE_URL.rstrip("/"),
    }
    subject = "".join(render_to_string("emails/invite-subject.txt", context).splitlines())
    body = render_to_string("emails/invite-body.txt", context)
    return EmailMultiAlternatives(subject, body, None, [invitation.user.email])
