"""A server-rendered SVG bar chart of requests per day: no chart library, no CDN.

Each day is one stacked bar: successful calls, answers from the cache, errors, refusals
(rate limits, credits, bad keys), so a bad day is visible at a glance; or, when several
keys are chosen, each key's share of the day. The template draws the rectangles; the same
figures are in a table beside the chart, for keyboards and screen readers.
"""

from dataclasses import dataclass

WIDTH = 720
HEIGHT = 160
TOP = 10
BOTTOM = 20  # room for the day labels
SERIES = (
    ("ok", "Successful"),
    ("saved", "From cache"),
    ("errors", "Errors"),
    ("refused", "Refused"),
)
KEY_COLOURS = 8  # .series-key-0 … 7 in console.css, then again from the first


@dataclass
class Segment:
    series: str
    y: float
    height: float


@dataclass
class Bar:
    x: float
    width: float
    label: str
    title: str
    segments: list[Segment]
    show_label: bool
    major: bool  # labelled on a phone too (every other label)


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _label(day, *, months: bool) -> str:
    """ "14", or "Oct 14" when the chart crosses months (and on each month's first day)."""
    if months:
        return f"{day.strftime('%b')} {day.day}"
    return str(day.day)


def _bars(days, series_of, title_of) -> dict:
    top = nice_ceiling(max((day.calls for day in days), default=0))
    plot = HEIGHT - TOP - BOTTOM
    slot = WIDTH / max(len(days), 1)
    months = len({(day.day.year, day.day.month) for day in days}) > 1
    every = max(1, round(len(days) / (7 if months else 10)))  # labels that fit the axis
    bars = []
    for i, day in enumerate(days):
        base = HEIGHT - BOTTOM
        segments = []
        for series, value in series_of(day):
            height = plot * value / top
            base -= height
            if height > 0:
                segments.append(Segment(series, round(base, 2), round(height, 2)))
        bars.append(
            Bar(
                x=round(i * slot + slot * 0.1, 2),
                width=round(slot * 0.8, 2),
                label=_label(day.day, months=months),
                title=title_of(day),
                segments=segments,
                show_label=i % every == 0,
                major=i % (2 * every) == 0,
            )
        )
    return {
        "bars": bars,
        "width": WIDTH,
        "height": HEIGHT,
        "top": f"{top:,}",
        "top_y": TOP,
        "axis_y": HEIGHT - BOTTOM,
    }


def day_bars(days) -> dict:
    """Bars for ``days`` (DayTotals) by outcome: coordinates in a WIDTH x HEIGHT viewBox."""

    def title(day):
        return (
            f"{day.day.isoformat()}: {day.calls:,} requests ({day.ok:,} successful, "
            + (f"{day.saved:,} from cache, " if day.saved else "")
            + f"{day.errors:,} errors, {day.refused:,} refused)"
        )

    chart = _bars(days, lambda day: [(s, getattr(day, s)) for s, _ in SERIES], title)
    chart["series"] = SERIES
    return chart


def key_bars(days, keys) -> dict:
    """Bars for ``days`` split by key (DayTotals with ``by_key``), one colour per key.

    Past KEY_COLOURS keys, the busiest KEY_COLOURS - 1 keep their colour and the rest are
    drawn together as "Other keys", so no two keys share a colour.
    """
    totals = {key.pk: sum((day.by_key or {}).get(key.pk, 0) for day in days) for key in keys}
    if len(keys) > KEY_COLOURS:
        busiest = sorted(keys, key=lambda key: -totals[key.pk])[: KEY_COLOURS - 1]
        shown = [key for key in keys if key in busiest]  # in the keys' own order
    else:
        shown = list(keys)
    others = [key for key in keys if key not in shown]
    colour = {key.pk: f"key-{i}" for i, key in enumerate(shown)}
    other_colour = f"key-{KEY_COLOURS - 1}"

    def shares(day):
        counts = day.by_key or {}
        parts = [(colour[key.pk], key.label, counts.get(key.pk, 0)) for key in shown]
        if others:
            rest = sum(counts.get(key.pk, 0) for key in others)
            parts.append((other_colour, "Other keys", rest))
        return parts

    def title(day):
        text = ", ".join(f"{label} {value:,}" for _, label, value in shares(day))
        return f"{day.day.isoformat()}: {day.calls:,} requests ({text})"

    chart = _bars(days, lambda day: [(c, v) for c, _, v in shares(day)], title)
    chart["series"] = [(colour[key.pk], key.label) for key in shown]
    if others:
        chart["series"].append((other_colour, f"Other keys ({len(others)})"))
    return chart
