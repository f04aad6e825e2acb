"""Every plotly figure on the page: was it drawn, and do its axes fit its data?

`collect(page)` reads each drawn figure's own state in the browser (plotly keeps, per trace,
the extremes that its autorange works from: `trace._extremes`, in the axis's linear units,
so log10 for a log axis, just like `layout.xaxis.range`). `axis_problems()` judges them in
plain Python, so the rule is tested without a browser (tests/test_browser.py).

The rule: an axis must show all of its traces' data, and no more than a sane margin beyond
it, HALF the data's span on each side, at least `MIN_LINEAR_PAD` of the data's size
(linear) or `MIN_LOG_PAD` decades (log). A linear axis may always reach down (or up) to
zero; bars on a log axis may start where the author chose. Text placed on a log axis in
log10 units (10^20 ms for a label meant at 20 ms) fails it; the usual padding passes.
"""

from __future__ import annotations

from dataclasses import dataclass

SPAN_PAD = 0.5         # beyond the data, at most half its span on each side ...
MIN_LINEAR_PAD = 0.1   # ... or a tenth of the data's magnitude, when the span is tiny
MIN_LOG_PAD = 1.0      # ... or one decade on a log axis
JUDGED_TYPES = ("linear", "log")  # category and date axes place data by their own rules

COLLECT_JS = """
() => {
  // the open notebook's cells, by index; on a plain page, the page is "cell" 0
  const cells = window.jupyterapp
    ? window.jupyterapp.shell.currentWidget.content.widgets.map(cell => cell.node)
    : [document.body];
  const found = [];
  cells.forEach((node, index) => {
    for (const gd of node.querySelectorAll('.js-plotly-plot')) {
      const box = gd.getBoundingClientRect();
      const layout = gd._fullLayout || {};
      const traces = (gd._fullData || []).filter(t => t.visible === true);
      const axes = [];
      for (const key of Object.keys(layout)) {
        if (!/^[xy]axis[0-9]*$/.test(key)) continue;
        const ax = layout[key];
        const vals = [];
        let bars = false;
        for (const trace of traces) {
          const ext = (trace._extremes || {})[ax._id];
          if (!ext) continue;
          for (const point of ext.min.concat(ext.max)) {
            if (Number.isFinite(point.val)) vals.push(point.val);
          }
          const valueAxis = trace.orientation === 'h' ? trace.xaxis : trace.yaxis;
          if (trace.type === 'bar' && valueAxis === ax._id) bars = true;
        }
        axes.push({name: key, type: ax.type, range: ax.range ? ax.range.slice() : null,
                   data: vals.length ? [Math.min(...vals), Math.max(...vals)] : null,
                   bars: bars});
      }
      // marks actually drawn: a trace's line, area, marker or bar with a real outline
      const drawn = Array.from(gd.querySelectorAll('.cartesianlayer .trace path'))
        .filter(path => (path.getAttribute('d') || '').length > 5).length;
      const title = layout.title && layout.title.text ? layout.title.text : '';
      found.push({cell: index, title: title.replace(/<[^>]+>/g, ''), width: box.width,
                  height: box.height, drawn: drawn, in_widget: !!gd.closest('.widget-box'),
                  axes: axes});
    }
  });
  return found;
}
"""


@dataclass(frozen=True)
class Axis:
    """One rendered axis: its type, its range and its data's extent, in the same units."""

    name: str
    type: str
    range: tuple[float, float] | None
    data: tuple[float, float] | None
    bars: bool = False   # bars stand on this axis (it is their value axis)


def shown(value: float, axis_type: str) -> str:
    """A range end as a reader would read it (10**value on a log axis)."""
    return f"{10 ** value:.3g}" if axis_type == "log" else f"{value:.4g}"


def axis_problems(axis: Axis) -> list[str]:
    """What is wrong with this axis's range for its data; empty when it fits."""
    if axis.type not in JUDGED_TYPES or axis.data is None or axis.range is None:
        return []
    lo, hi = sorted(axis.range)
    data_lo, data_hi = axis.data
    where = (f"{axis.name} ({axis.type}) shows {shown(lo, axis.type)} to "
             f"{shown(hi, axis.type)} for data from {shown(data_lo, axis.type)} to "
             f"{shown(data_hi, axis.type)}")
    slack = 1e-9 * max(1.0, abs(data_lo), abs(data_hi))
    problems = []
    if lo > data_lo + slack or hi < data_hi - slack:
        problems.append(f"{where}: some data is cut off")
    if axis.type == "linear" and lo <= 0 <= hi:  # a zero baseline is always a fair choice
        data_lo, data_hi = min(data_lo, 0.0), max(data_hi, 0.0)
    span = data_hi - data_lo
    if axis.type == "log":
        allowed = max(SPAN_PAD * span, MIN_LOG_PAD)
    else:
        allowed = max(SPAN_PAD * span, MIN_LINEAR_PAD * max(abs(data_lo), abs(data_hi)))
    # where log bars start is the author's choice (they cannot start at zero)
    below = 0.0 if axis.type == "log" and axis.bars else data_lo - lo
    if below > allowed + slack or hi - data_hi > allowed + slack:
        problems.append(f"{where}: far more than the data needs")
    return problems


def axes_of(figure: dict) -> list[Axis]:
    return [Axis(a["name"], a["type"], tuple(a["range"]) if a["range"] else None,
                 tuple(a["data"]) if a["data"] else None, a["bars"]) for a in figure["axes"]]


def collect(page) -> list[dict]:
    """Every plotly figure in the open notebook (or the page), as plain data (COLLECT_JS)."""
    return page.evaluate(COLLECT_JS)
