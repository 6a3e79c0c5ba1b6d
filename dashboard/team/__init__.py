"""Teammates: invitations by email, "Forgot password?", deactivating a member.

Everything rides on Django's password reset machinery: a reset link and an invitation
link are both a signed token for the account (dashboard/team/tokens.py), usable once
(setting the password changes what the token signs) and for a limited time.
"""
