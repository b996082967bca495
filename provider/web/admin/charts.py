"""Server-rendered SVG charts for the admin dashboard (no JavaScript, no CDN).

Every label is XML-escaped; the SVG scales to its container (viewBox), so the
charts stay readable at 375 px.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

__all__ = ["bar_chart", "line_chart"]

_PALETTE = ("#1f5eff", "#b3261e", "#e37400", "#1a7f37", "#8e24aa", "#00838f", "#5b6270")


def _nice_max(value: int) -> int:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000):
        if value <= step * 4:
            return step * 4
    return value


def bar_chart(data: Mapping[str, int], *, title: str, chart_id: str) -> Markup:
    """Horizontal bars, one per key, with its count."""
    rows = list(data.items())
    width, bar_h, gap, label_w = 360, 18, 8, 150
    height = max(1, len(rows)) * (bar_h + gap) + 30
    top = max([v for _, v in rows] or [0]) or 1
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="{escape(chart_id)}-t">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
    ]
    if not rows:
        parts.append('<text x="0" y="20" class="chart-empty">No data in the last 7 days</text>')
    for index, (label, value) in enumerate(rows):
        y = index * (bar_h + gap) + 4
        w = int((width - label_w - 40) * value / top)
        short = label if len(label) <= 24 else "…" + label[-23:]
        color = _PALETTE[index % len(_PALETTE)]
        parts.append(
            f'<text x="0" y="{y + 13}" font-size="11"><title>{escape(label)}</title>'
            f"{escape(short)}</text>"
            f'<rect x="{label_w}" y="{y}" width="{max(w, 1)}" height="{bar_h}" '
            f'fill="{color}" rx="3"/>'
            f'<text x="{label_w + max(w, 1) + 4}" y="{y + 13}" font-size="11">{value}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped


def line_chart(
    labels: Sequence[str], series: Mapping[str, Sequence[int]], *, title: str, chart_id: str
) -> Markup:
    """One polyline per series over the day labels, with a legend."""
    width, height, left, bottom, top_pad = 360, 200, 30, 40, 10
    top = _nice_max(max([max(v or [0]) for v in series.values()] or [0]) or 1)
    plot_w = width - left - 22
    plot_h = height - bottom - top_pad
    step = plot_w / max(1, len(labels) - 1)
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="{escape(chart_id)}-t">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
    ]
    for tick in range(5):
        value = top * tick // 4
        y = top_pad + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#dfe2e8"/>'
            f'<text x="0" y="{y + 4:.1f}" font-size="10">{value}</text>'
        )
    for index, label in enumerate(labels):
        x = left + step * index
        parts.append(
            f'<text x="{x:.1f}" y="{height - bottom + 14}" font-size="9" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    for index, (name, values) in enumerate(series.items()):
        color = _PALETTE[index % len(_PALETTE)]
        points = " ".join(
            f"{left + step * i:.1f},{top_pad + plot_h - plot_h * v / top:.1f}"
            for i, v in enumerate(values)
        )
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}">'
            f"<title>{escape(name)}: {', '.join(str(v) for v in values)}</title></polyline>"
        )
        lx = left + index * 100
        parts.append(
            f'<rect x="{lx}" y="{height - 16}" width="10" height="10" fill="{color}"/>'
            f'<text x="{lx + 14}" y="{height - 7}" font-size="10">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped
