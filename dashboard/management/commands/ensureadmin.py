"""Make sure someone can log in: on a database with no superuser, create ``admin``.

``make run`` calls this before starting the server. The generated password is printed
once; it is stored only as Django's password hash.
"""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an 'admin' superuser with a generated password if no superuser exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        User = get_user_model()
        url = f"http://127.0.0.1:{os.environ.get('PORT') or 8000}/"
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write(f"Tollgate console: {url} (log in with your account)")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "  Tollgate is set up. Log in at " + url,
                    f"    username: {username}",
                    f"    password: {password}",
                    "  This password is shown only once: change it under 'Change password'.",
                    "",
                ]
            )
        )
