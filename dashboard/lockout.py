"""The page a locked-out login gets, instead of axes' one line of plain text.

Axes calls this (AXES_LOCKOUT_CALLABLE) for the console's login and the admin's alike.
429 says "too many attempts" to scripts; the page says for how long and who can help.
"""

from datetime import timedelta

from django.conf import settings
from django.shortcuts import render


def lockout_response(request, original_response=None, credentials=None):
    minutes = int(settings.AXES_COOLOFF_TIME / timedelta(minutes=1))
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
