"""Invitation links: Django's password reset token, valid for INVITE_VALID_DAYS.

Django checks a reset token's age against PASSWORD_RESET_TIMEOUT, one setting for every
token. An invitation is dated ahead by the difference when it is made, so that the same
check lets it live ``INVITE_VALID_DAYS`` while a "Forgot password?" link keeps its short
life. A separate salt keeps the two kinds of link apart: a reset token never opens the
invitation page, nor the reverse. Both stop working once a password is set (the token
signs the password hash) and when the account is deactivated or removed.
"""

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator


class InviteTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "tollgate.team.tokens.InviteTokenGenerator"

    def make_token(self, user):
        ahead = settings.INVITE_VALID_DAYS * 86400 - settings.PASSWORD_RESET_TIMEOUT
        return self._make_token_with_timestamp(
            user, self._num_seconds(self._now()) + max(0, ahead), self.secret
        )


invite_tokens = InviteTokenGenerator()
