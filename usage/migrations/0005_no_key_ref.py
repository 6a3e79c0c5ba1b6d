"""Calls without a key get their own key_ref (-1) in the hour and day counters.

Until now 0 meant "the whole plan" in the month and minute counters and "calls without a
key" in the hour and day counters. The hour and day counters never held plan rows, so
every 0 there was a keyless call.
"""

from django.db import migrations

OLD, NEW = 0, -1


def forwards(apps, schema_editor):
    for model in ("HourUsage", "DayUsage"):
        apps.get_model("usage", model).objects.filter(key_ref=OLD).update(key_ref=NEW)


def backwards(apps, schema_editor):
    for model in ("HourUsage", "DayUsage"):
        apps.get_model("usage", model).objects.filter(key_ref=NEW).update(key_ref=OLD)


class Migration(migrations.Migration):
    dependencies = [("usage", "0004_daycache")]

    operations = [migrations.RunPython(forwards, backwards)]
