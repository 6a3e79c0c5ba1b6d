"""A server-rendered SVG bar chart of calls per day: no chart library, no CDN.

Each day is one stacked bar: successful calls, answers from the cache, errors, refusals
(rate limits, credits, bad keys), so a bad day is visible at a glance. The template
draws the rectangles.
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


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def day_bars(days) -> dict:
    """Bars for ``days`` (DayTotals): coordinates in a WIDTH x HEIGHT viewBox."""
    top = nice_ceiling(max((day.calls for day in days), default=0))
    plot = HEIGHT - TOP - BOTTOM
    slot = WIDTH / max(len(days), 1)
    every = max(1, round(len(days) / 10))  # at most ~10 labels on the axis
    bars = []
    for i, day in enumerate(days):
        base = HEIGHT - BOTTOM
        segments = []
        for series, _ in SERIES:
            height = plot * getattr(day, series) / top
            base -= height
            if height > 0:
                segments.append(Segment(series, round(base, 2), round(height, 2)))
        bars.append(
            Bar(
                x=round(i * slot + slot * 0.1, 2),
                width=round(slot * 0.8, 2),
                label=day.day.strftime("%d"),
                title=f"{day.day.isoformat()}: {day.calls} calls ({day.ok} successful, "
                + (f"{day.saved} from cache, " if day.saved else "")
                + f"{day.errors} errors, {day.refused} refused)",
                segments=segments,
                show_label=i % every == 0,
            )
        )
    return {
        "bars": bars,
        "width": WIDTH,
        "height": HEIGHT,
        "top": top,
        "top_y": TOP,
        "axis_y": HEIGHT - BOTTOM,
        "series": SERIES,
    }
