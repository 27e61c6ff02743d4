"""Line charts as self-contained SVG, for the benchmark drivers to write
into docs/ (no plotting library: the benches run with Debian's python3
alone, and a chart must not change when a library's style does).

  svg = line_chart([Series("C++", [(0.1, 0.5), (0.3, 0.76)])],
                   title="...", x_label="seconds", y_label="accuracy",
                   x_log=True, hlines=[(0.75, "target")])
  write_svg("docs/accuracy.svg", svg)

Axes are linear or logarithmic (base 10, for figures that span several
orders of magnitude, as seconds to target do here: 0.3 s against 300 s).
"""

import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

# Colour-blind-safe (Okabe-Ito), in the order series take them.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


@dataclass
class Series:
    name: str
    points: list  # (x, y) pairs; points with a non-positive x or y are dropped on a log axis
    color: str = ""
    dashed: bool = False
    markers: bool = True


@dataclass
class Axis:
    lo: float
    hi: float
    log: bool
    ticks: list = field(default_factory=list)

    def fraction(self, v):
        if self.log:
            return (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        return (v - self.lo) / (self.hi - self.lo)


def nice_linear_ticks(lo, hi, count=6):
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    last = math.ceil(hi / step) * step
    n = int(round((last - first) / step))
    return [first + i * step for i in range(n + 1)]


def decade_ticks(lo, hi):
    """Powers of ten covering [lo, hi] (both positive)."""
    a = math.floor(math.log10(lo))
    b = math.ceil(math.log10(hi))
    if a == b:
        b += 1
    return [10.0 ** e for e in range(a, b + 1)]


def make_axis(values, log, fixed=None):
    if fixed is not None:
        lo, hi = fixed
        ticks = decade_ticks(lo, hi) if log else nice_linear_ticks(lo, hi)
        return Axis(lo, hi, log, [t for t in ticks if lo - 1e-12 <= t <= hi + 1e-12])
    if log:
        values = [v for v in values if v > 0]
    if not values:
        values = [1.0, 10.0] if log else [0.0, 1.0]
    ticks = decade_ticks(min(values), max(values)) if log else nice_linear_ticks(min(values),
                                                                                  max(values))
    return Axis(ticks[0], ticks[-1], log, ticks)


def tick_label(v):
    if v == 0:
        return "0"
    if abs(v) >= 1000 and float(v).is_integer():
        return f"{v:,.0f}"
    if abs(v) < 1e-3:
        return f"{v:.0e}"
    return f"{v:g}"


def line_chart(series, *, title, x_label, y_label, x_log=False, y_log=False,
               x_range=None, y_range=None, hlines=(), notes=(), width=760, height=440):
    """The SVG text of a chart: one polyline per series (with a marker per
    point unless the series says not), dashed horizontal reference lines
    (value, label), a legend, and note lines under the title."""
    # The legend's width follows its longest name (under 7 px a character).
    legend = 40 + 7 * max((len(s.name) for s in series), default=0)
    left, right, top, bottom = 78, max(150, legend), 56 + 16 * len(notes), 52
    plot_w, plot_h = width - left - right, height - top - bottom
    usable = []
    for s in series:
        pts = [(float(x), float(y)) for x, y in s.points if x is not None and y is not None]
        pts = [(x, y) for x, y in pts if (x > 0 or not x_log) and (y > 0 or not y_log)]
        usable.append(pts)
    xs = [x for pts in usable for x, _ in pts]
    ys = [y for pts in usable for _, y in pts] + [v for v, _ in hlines]
    x_axis = make_axis(xs, x_log, x_range)
    y_axis = make_axis(ys, y_log, y_range)

    def px(x):
        return left + plot_w * min(max(x_axis.fraction(x), 0.0), 1.0)

    def py(y):
        return top + plot_h * (1 - min(max(y_axis.fraction(y), 0.0), 1.0))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
           f'<text x="{left}" y="24" font-size="15" font-weight="bold">{escape(title)}</text>']
    for i, note in enumerate(notes):
        out.append(f'<text x="{left}" y="{42 + 16 * i}" fill="#555555">{escape(note)}</text>')
    for t in x_axis.ticks:
        x = px(t)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" '
                   'stroke="#e4e4e4"/>')
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                   f'{escape(tick_label(t))}</text>')
    for t in y_axis.ticks:
        y = py(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                   'stroke="#e4e4e4"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                   f'{escape(tick_label(t))}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
               'stroke="#333333"/>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 12}" text-anchor="middle">'
               f'{escape(x_label)}</text>')
    out.append(f'<text transform="translate(18 {top + plot_h / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle">{escape(y_label)}</text>')
    for value, label in hlines:
        y = py(value)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                   'stroke="#777777" stroke-dasharray="6 4"/>')
        out.append(f'<text x="{left + plot_w - 4}" y="{y - 5:.1f}" text-anchor="end" '
                   f'fill="#555555">{escape(label)}</text>')
    legend_y = top + 8
    for i, (s, pts) in enumerate(zip(series, usable)):
        color = s.color or PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        if pts:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
            out.append(f'<polyline class="series" data-name="{escape(s.name)}" points="{path}" '
                       f'fill="none" stroke="{color}" stroke-width="2"{dash}/>')
            if s.markers:
                out.extend(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>'
                           for x, y in pts)
        lx = left + plot_w + 14
        out.append(f'<line x1="{lx}" y1="{legend_y}" x2="{lx + 22}" y2="{legend_y}" '
                   f'stroke="{color}" stroke-width="2"{dash}/>')
        shown = s.name if pts else f"{s.name} (no data)"
        out.append(f'<text x="{lx + 28}" y="{legend_y + 4}">{escape(shown)}</text>')
        legend_y += 18
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_svg(path, svg):
    """Writes the chart, making its folder; returns the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg, encoding="utf-8")
    return path
