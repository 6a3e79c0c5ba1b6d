"""The CSV export: the console's download, the exportusage command and the admin action."""

import codecs
import csv
import io
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from keys.services import key_create, key_delete
from tests.support import record_call
from usage.models import Call, Outcome
from usage.reports import export

pytestmark = pytest.mark.django_db

URL = "/usage/export.csv"
NOVEMBER = {"start": "2026-11-01", "end": "2026-11-30"}
DAILY_HEADER = [
    "date",
    "key label",
    "key prefix",
    "requests",
    "credits used",
    "overage",
    "errors",
    "rate limited",
    "cached",
]
CALLS_HEADER = [
    "time",
    "key label",
    "key prefix",
    "method",
    "endpoint",
    "status",
    "outcome",
    "credits",
    "latency ms",
    "bytes",
]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def text_of(response) -> str:
    """A download's text, after its UTF-8 byte-order mark (for Excel)."""
    assert response.status_code == 200, response.content
    assert response.streaming
    body = b"".join(response.streaming_content)
    assert body.startswith(codecs.BOM_UTF8)
    return body.decode("utf-8-sig")


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def download(client, **params):
    response = client.get(URL, params)
    return rows_of(text_of(response))


def command(*args) -> str:
    out = io.StringIO()
    call_command("exportusage", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def utc_team(settings):
    settings.TIME_ZONE = "UTC"


@pytest.fixture
def alerts_key(owner):
    return key_create(owner=owner, label="alerts")[0]


@pytest.fixture
def november(utc_team, owner_key, alerts_key):
    """A few calls of the owner's two keys in November 2026 (UTC team)."""
    bot = owner_key[0]
    record_call(bot, utc(2026, 11, 3, 10, 5, 20, 250000))
    record_call(bot, utc(2026, 11, 3, 10, 40), path="/coins/bitcoin", latency_ms=None, size=2048)
    record_call(bot, utc(2026, 11, 3, 23, 59), status=502, outcome=Outcome.UPSTREAM_ERROR, size=0)
    record_call(
        alerts_key, utc(2026, 11, 3, 12), status=429, outcome=Outcome.RATE_LIMITED, credit=False
    )
    record_call(alerts_key, utc(2026, 11, 3, 13), credit=False, overage=True, method="POST")
    record_call(bot, utc(2026, 11, 5, 0, 0), latency_ms=1234.56789)
    return bot, alerts_key


class TestDailySummary:
    def test_it_has_one_row_per_key_per_day_with_calls(self, owner_client, november):
        bot, alerts = november
        assert download(owner_client, **NOVEMBER) == [
            DAILY_HEADER,
            ["2026-11-03", "alerts", alerts.prefix, "2", "1", "1", "0", "1", "0"],
            ["2026-11-03", "pricing bot", bot.prefix, "3", "2", "0", "1", "0", "0"],
            ["2026-11-05", "pricing bot", bot.prefix, "1", "1", "0", "0", "0", "0"],
        ]

    def test_it_counts_the_answers_from_the_cache_apart(self, owner_client, november):
        bot, _ = november
        for outcome in (Outcome.CACHED, Outcome.COALESCED, Outcome.STALE):
            record_call(bot, utc(2026, 11, 5, 9), outcome=outcome, credit=False)
        rows = download(owner_client, keys=[bot.pk], **NOVEMBER)
        assert rows[-1] == ["2026-11-05", "pricing bot", bot.prefix, "4", "1", "0", "0", "0", "3"]

    def test_it_reads_the_counters_not_the_call_log(self, owner_client, november):
        Call.objects.all().delete()  # the log gone, the counters still there
        assert len(download(owner_client, **NOVEMBER)) == 4

    def test_it_exports_only_the_chosen_keys(self, owner_client, november):
        bot, _ = november
        rows = download(owner_client, keys=[bot.pk], **NOVEMBER)
        assert [row[1] for row in rows[1:]] == ["pricing bot", "pricing bot"]

    def test_day_is_the_default_and_the_filename_names_the_range(self, owner_client, november):
        response = owner_client.get(URL, NOVEMBER)
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == (
            'attachment; filename="tollgate-usage-2026-11-01_2026-11-30.csv"'
        )
        assert "no-cache" in response["Cache-Control"]
        assert rows_of(text_of(response))[0] == DAILY_HEADER

    def test_a_timeframe_works_like_on_the_history_page(self, owner_client, november):
        response = owner_client.get(URL, {"timeframe": "this_month"})
        assert response.status_code == 200
        assert 'filename="tollgate-usage-' in response["Content-Disposition"]
        assert rows_of(text_of(response))[0] == DAILY_HEADER

    @pytest.mark.parametrize("granularity", ["day", "call"])
    def test_nothing_to_export_says_so_on_the_page(
        self, owner_client, utc_team, owner_key, granularity
    ):
        response = owner_client.get(URL, {**NOVEMBER, "granularity": granularity})
        assert response.status_code == 200 and not response.streaming
        assert response["Content-Type"].startswith("text/html")
        assert "Nothing to export: no requests with these keys in this period" in (
            response.content.decode()
        )


class TestEveryCall:
    def test_it_has_one_row_per_call_in_time_order(self, owner_client, november, owner_key):
        bot, alerts = november
        response = owner_client.get(URL, {**NOVEMBER, "granularity": "call"})
        assert response["Content-Disposition"] == (
            'attachment; filename="tollgate-usage-2026-11-01_2026-11-30-calls.csv"'
        )
        text = text_of(response)
        assert rows_of(text) == [
            CALLS_HEADER,
            [
                "2026-11-03T10:05:20.250000Z",
                "pricing bot",
                bot.prefix,
                "GET",
                "/simple/price",
                "200",
                "ok",
                "1",
                "12.500",
                "100",
            ],
            [
                "2026-11-03T10:40:00.000000Z",
                "pricing bot",
                bot.prefix,
                "GET",
                "/coins/bitcoin",
                "200",
                "ok",
                "1",
                "",
                "2048",
            ],
            [
                "2026-11-03T12:00:00.000000Z",
                "alerts",
                alerts.prefix,
                "GET",
                "/simple/price",
                "429",
                "rate_limited",
                "0",
                "12.500",
                "100",
            ],
            [
                "2026-11-03T13:00:00.000000Z",
                "alerts",
                alerts.prefix,
                "POST",
                "/simple/price",
                "200",
                "ok",
                "0",
                "12.500",
                "100",
            ],
            [
                "2026-11-03T23:59:00.000000Z",
                "pricing bot",
                bot.prefix,
                "GET",
                "/simple/price",
                "502",
                "upstream_error",
                "0",
                "12.500",
                "0",
            ],
            [
                "2026-11-05T00:00:00.000000Z",
                "pricing bot",
                bot.prefix,
                "GET",
                "/simple/price",
                "200",
                "ok",
                "1",
                "1234.568",
                "100",
            ],
        ]
        # Neither the raw key nor the query string (where a key could travel) is written.
        assert owner_key[1] not in text
        assert "ids=bitcoin" not in text

    def test_calls_without_a_key_are_not_anyones(self, staff_client, november):
        record_call(None, utc(2026, 11, 4), status=401, outcome=Outcome.MISSING_KEY, credit=False)
        rows = download(staff_client, granularity="call", **NOVEMBER)
        assert len(rows) == 1 + 6
        assert all(row[1] for row in rows[1:])

    def test_it_streams_in_chunks(self, owner_client, november, monkeypatch):
        monkeypatch.setattr(export, "ROWS_PER_CHUNK", 2)
        response = owner_client.get(URL, {**NOVEMBER, "granularity": "call"})
        chunks = list(response.streaming_content)
        assert [len(rows_of(chunk.decode())) for chunk in chunks] == [1, 2, 2, 2]


class TestRanges:
    @pytest.mark.parametrize("granularity", ["day", "call"])
    @pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Tokyo"])
    def test_both_ends_are_whole_local_days(
        self, owner_client, owner_key, settings, zone, granularity
    ):
        settings.TIME_ZONE = zone
        from zoneinfo import ZoneInfo

        local = ZoneInfo(zone)
        key = owner_key[0]
        for at in [
            datetime(2026, 10, 31, 23, 59, tzinfo=local),  # the day before: out
            datetime(2026, 11, 1, 0, 0, tzinfo=local),  # the first moment: in
            datetime(2026, 11, 30, 23, 59, tzinfo=local),  # the last day's last minute: in
            datetime(2026, 12, 1, 0, 0, tzinfo=local),  # the next day: out
        ]:
            record_call(key, at.astimezone(UTC))
        rows = download(owner_client, granularity=granularity, **NOVEMBER)
        if granularity == "day":
            assert [(row[0], row[3]) for row in rows[1:]] == [
                ("2026-11-01", "1"),
                ("2026-11-30", "1"),
            ]
        else:
            first = datetime(2026, 11, 1, tzinfo=local).astimezone(UTC)
            last = datetime(2026, 11, 30, 23, 59, tzinfo=local).astimezone(UTC)
            assert [row[0] for row in rows[1:]] == [
                first.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                last.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            ]

    def test_the_team_time_zone_decides_the_day(self, owner_client, owner_key, settings):
        key = owner_key[0]
        record_call(key, utc(2026, 11, 30, 14, 59))  # 23:59 on 30 November in Tokyo
        record_call(key, utc(2026, 11, 30, 15, 30))  # 00:30 on 1 December in Tokyo
        settings.TIME_ZONE = "UTC"
        assert [row[0] for row in download(owner_client, **NOVEMBER)[1:]] == ["2026-11-30"]
        assert download(owner_client, **NOVEMBER)[1][3] == "2"
        settings.TIME_ZONE = "Asia/Tokyo"
        assert [row[3] for row in download(owner_client, **NOVEMBER)[1:]] == ["1"]
        december = download(owner_client, start="2026-12-01", end="2026-12-01")
        assert [(row[0], row[3]) for row in december[1:]] == [("2026-12-01", "1")]
        calls = download(owner_client, granularity="call", start="2026-12-01", end="2026-12-01")
        assert [row[0] for row in calls[1:]] == ["2026-11-30T15:30:00.000000Z"]


class TestSpreadsheetSafety:
    LABELS = ["=cmd|' /C calc'!A0", "@SUM(1)", "+1", "-1"]

    @pytest.mark.parametrize("granularity", ["day", "call"])
    def test_formula_like_labels_are_prefixed_with_a_quote(
        self, owner_client, owner, utc_team, granularity
    ):
        for i, label in enumerate(self.LABELS):
            key = key_create(owner=owner, label=label)[0]
            record_call(key, utc(2026, 11, 2, 10, i))
        rows = download(owner_client, granularity=granularity, **NOVEMBER)
        assert sorted(row[1] for row in rows[1:]) == sorted("'" + label for label in self.LABELS)
        # Numbers are left alone.
        assert {row[3] if granularity == "day" else row[5] for row in rows[1:]} == (
            {"1"} if granularity == "day" else {"200"}
        )

    def test_formula_like_endpoints_and_methods_are_prefixed(
        self, owner_client, owner_key, utc_team
    ):
        record_call(owner_key[0], utc(2026, 11, 2), path='=HYPERLINK("http://x")', method="-X")
        row = download(owner_client, granularity="call", **NOVEMBER)[1]
        assert row[1:5] == ["pricing bot", owner_key[0].prefix, "'-X", '\'=HYPERLINK("http://x")']

    @pytest.mark.parametrize(
        ("text", "safe"),
        [
            ("\tcmd", "'\tcmd"),
            ("\rcmd", "'\rcmd"),
            ("=1+1", "'=1+1"),
            ("", ""),
            ("pricing bot", "pricing bot"),
            ("a=b", "a=b"),
        ],
    )
    def test_defuse(self, text, safe):
        assert export.defuse(text) == safe


class TestDeletedKeys:
    @pytest.mark.parametrize("granularity", ["day", "call"])
    def test_a_deleted_key_is_reported_under_its_label_marked_deleted(
        self, owner_client, owner_key, utc_team, granularity
    ):
        key = owner_key[0]
        record_call(key, utc(2026, 11, 2))
        key_delete(key=key)
        rows = download(owner_client, granularity=granularity, **NOVEMBER)
        assert [row[1:3] for row in rows[1:]] == [["pricing bot (deleted)", key.prefix]]


class TestAccess:
    @pytest.fixture
    def teammate_key(self, teammate):
        return key_create(owner=teammate, label="teammate bot")[0]

    def test_a_member_gets_only_their_own_keys(self, teammate_client, teammate_key, november):
        record_call(teammate_key, utc(2026, 11, 4))
        for granularity in ("day", "call"):
            rows = download(teammate_client, granularity=granularity, **NOVEMBER)
            assert [row[1] for row in rows[1:]] == ["teammate bot"]

    def test_asking_for_someone_elses_key_is_a_400(self, teammate_client, teammate_key, november):
        bot, _ = november
        response = teammate_client.get(URL, {"keys": [bot.pk], **NOVEMBER})
        assert response.status_code == 400
        assert f"{bot.pk} is not one of the available choices" in response.content.decode()

    def test_staff_export_everyones_keys(self, staff_client, teammate_key, november):
        record_call(teammate_key, utc(2026, 11, 4))
        rows = download(staff_client, **NOVEMBER)
        assert {row[1] for row in rows[1:]} == {"alerts", "pricing bot", "teammate bot"}

    def test_anonymous_is_sent_to_log_in(self, client, db):
        response = client.get(URL, NOVEMBER)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=/usage/export.csv")

    def test_post_is_not_allowed(self, owner_client):
        assert owner_client.post(URL, NOVEMBER).status_code == 405

    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"start": "2026-11-30", "end": "2026-11-01"}, "The last day comes before the first."),
            ({"start": "2026-11-31", "end": "2026-12-01"}, "Enter a valid date."),
            ({"start": "2025-01-01", "end": "2026-11-30"}, "A range covers at most 366 days."),
            ({"timeframe": "7d", "start": "2026-11-01"}, "Give the last day of the range."),
            ({"timeframe": "forever"}, "Select a valid choice."),
            ({"keys": "abc"}, "Select a valid choice."),
            ({"granularity": "hour"}, "Select a valid choice."),
            ({"start": "9999-12-31", "end": "9999-12-31"}, "out of range"),
        ],
    )
    def test_bad_filters_are_a_400_page_with_the_forms_errors(self, owner_client, params, message):
        response = owner_client.get(URL, params)
        assert response.status_code == 400
        assert response["Content-Type"] == "text/html; charset=utf-8"
        body = response.content.decode()
        assert message in body and 'id="history-form"' in body  # inline, in the form to fix


class TestCommand:
    @pytest.mark.parametrize("granularity", ["day", "call"])
    def test_it_writes_what_the_view_serves(self, staff_client, november, owner, granularity):
        gone = key_create(owner=owner, label="old bot")[0]
        record_call(gone, utc(2026, 11, 4))
        key_delete(key=gone)
        view = text_of(staff_client.get(URL, {**NOVEMBER, "granularity": granularity}))
        out = command("--start", "2026-11-01", "--end", "2026-11-30", "--granularity", granularity)
        assert out == view
        assert "old bot (deleted)" in out
        assert len(rows_of(out)) == (5 if granularity == "day" else 8)

    def test_day_is_the_default(self, november):
        out = command("--start", "2026-11-01", "--end", "2026-11-30")
        assert rows_of(out)[0] == DAILY_HEADER

    def test_key_selects_one_key_by_its_prefix(self, staff_client, november):
        bot, _ = november
        out = command("--start", "2026-11-01", "--end", "2026-11-30", "--key", bot.prefix)
        assert out == text_of(staff_client.get(URL, {**NOVEMBER, "keys": [bot.pk]}))
        assert {row[1] for row in rows_of(out)[1:]} == {"pricing bot"}

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--start", "2026-11-31", "--end", "2026-12-01"], "is not a date"),
            (["--start", "yesterday", "--end", "2026-12-01"], "is not a date"),
            (["--start", "2026-11-30", "--end", "2026-11-01"], "--end comes before --start"),
            (["--start", "2025-01-01", "--end", "2026-11-30"], "at most 366 days"),
            (["--start", "9999-12-31", "--end", "9999-12-31"], "out of range"),
            (
                ["--start", "2026-11-01", "--end", "2026-11-30", "--key", "tg_nobody00"],
                "No key has the prefix",
            ),
        ],
    )
    def test_bad_arguments_are_refused(self, args, message, owner_key):
        with pytest.raises(CommandError, match=message):
            command(*args)


class TestAdminAction:
    def test_it_exports_the_selected_calls(self, staff_client, november):
        bot, _ = november
        chosen = list(Call.objects.filter(key=bot).order_by("at").values_list("pk", flat=True))
        response = staff_client.post(
            "/admin/usage/call/",
            {"action": "export_csv", "_selected_action": chosen[:2]},
        )
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"].startswith('attachment; filename="tollgate-calls-')
        rows = rows_of(text_of(response))
        assert rows[0] == CALLS_HEADER
        assert [row[0] for row in rows[1:]] == [
            "2026-11-03T10:05:20.250000Z",
            "2026-11-03T10:40:00.000000Z",
        ]
        assert {row[1] for row in rows[1:]} == {"pricing bot"}

    def test_it_is_offered_under_its_name(self, staff_client, db):
        choices = staff_client.get("/admin/usage/call/").context["action_form"]
        labels = dict(choices.fields["action"].choices)
        assert labels["export_csv"] == "Export selected calls as CSV"
