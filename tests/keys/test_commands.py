import io
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from keys.models import ApiKey
from tests.support import authenticated

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("createapikey", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_prints_the_raw_key_as_its_only_line(owner):
    out, err = run(
        "--owner", "alice", "--label", "cron job", "--rate-limit", "30", "--monthly-credits", "5000"
    )
    lines = out.splitlines()
    assert len(lines) == 1 and err == ""
    key = ApiKey.objects.get(pk=authenticated(lines[0]))
    assert key is not None and key.owner == owner
    assert (key.label, key.rate_limit, key.monthly_credits) == ("cron job", 30, 5000)


def test_an_unknown_user_is_an_error(db):
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        run("--owner", "nobody", "--label", "x")
    assert not ApiKey.objects.exists()


def test_a_duplicate_label_is_an_error(owner_key):
    with pytest.raises(CommandError, match="already have an active key with this label"):
        run("--owner", "alice", "--label", "pricing bot")
    assert ApiKey.objects.count() == 1


def test_a_bad_limit_exits_non_zero_with_the_error_on_stderr():
    """As a script sees it: a real process, its exit status and its two streams.

    (The test database is not visible to a child process, so this checks an argument
    error, which is refused before any database access.)
    """
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "createapikey",
            "--owner",
            "alice",
            "--label",
            "x",
            "--rate-limit",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert "--rate-limit" in result.stderr
