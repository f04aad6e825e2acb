"""The notebooks' explorers (ipywidgets boxes holding plotly figures), moved like a reader.

A slider is moved from the keyboard (focus its handle, press End, or Home when it already
sits at the end); in a row of toggle buttons the unchosen ones are clicked, last first, until
one changes something (a preset row starts on a value its first button repeats). After each
move the explorer's drawn figures must change. A control whose move only shows or hides
other controls (a mode switch) counts when it reveals controls; those are moved next. The
seconds reported run from the key press to the changed drawing, polled from Python, so they
are upper bounds on the redraw time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

# in the notebook shown (a hidden tab's widgets are not the reader's)
EXPLORERS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output > .widget-vbox"
CONTROLS = ".widget-slider, .widget-toggle-buttons, .widget-dropdown, .widget-checkbox"
REDRAW_SECONDS = 30  # generous: a 2-core machine running five other test suites
SETTLE_SECONDS = 0.4  # a drawing unchanged this long is finished

# A cheap fingerprint of what the explorer's figures draw (their plot areas' SVG).
DRAWING_JS = """
(box) => {
  let text = '';
  for (const gd of box.querySelectorAll('.js-plotly-plot')) {
    const layers = gd.querySelectorAll('.cartesianlayer, .barlayer, .ytick, .xtick');
    for (const layer of layers) text += layer.innerHTML;
  }
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) | 0;
  return text.length + ':' + hash;
}
"""
LABELS_JS = """
(box, selector) => Array.from(box.querySelectorAll(selector))
  .filter(c => c.offsetParent !== null)
  .map(c => { const l = c.querySelector('.widget-label'); return l ? l.textContent.trim() : ''; })
"""


@dataclass(frozen=True)
class Move:
    """What moving one control did."""

    label: str
    action: str
    redrew: bool
    revealed: tuple[str, ...]
    seconds: float   # from the key press or click to the changed drawing (or giving up)

    @property
    def ok(self) -> bool:
        return self.redrew or bool(self.revealed)


def _visible_labels(box) -> list[str]:
    return box.evaluate(LABELS_JS, CONTROLS)


def _control(box, label: str, patience: float = 3.0):
    """The visible control with this label; a widget mid-redraw gets a moment to come back."""
    deadline = time.monotonic() + patience
    while True:
        for control in box.locator(CONTROLS).all():
            name = control.locator(".widget-label").first
            if control.is_visible() and name.inner_text().strip() == label:
                return control
        if time.monotonic() > deadline:
            raise AssertionError(f"control {label!r} vanished")
        time.sleep(0.1)


def _is_switch(control) -> bool:
    return control.locator("button.widget-toggle-button").count() > 0


def _actions(control):
    """The moves a reader could make on this control, most telling first (callables)."""
    handle = control.locator(".noUi-handle")
    if handle.count():
        return [lambda: _slide(handle.first)]
    buttons = control.locator("button.widget-toggle-button:not(.mod-active)").all()
    if buttons:  # the last option first: a preset row starts on its first, the default
        return [lambda b=b: _click(b) for b in reversed(buttons)]
    select = control.locator("select")
    if select.count():
        return [lambda: _choose_another(select.first)]
    return [lambda: _click(control.locator("input[type=checkbox]").first)]


def _slide(handle) -> str:
    before = handle.get_attribute("aria-valuenow")
    handle.focus()
    handle.press("End")
    if handle.get_attribute("aria-valuenow") != before:
        return f"End: {before} -> {handle.get_attribute('aria-valuenow')}"
    handle.press("Home")
    return f"Home: {before} -> {handle.get_attribute('aria-valuenow')}"


def _click(element) -> str:
    name = element.inner_text().strip() or "the box"
    element.click()
    return f"clicked {name!r}"


def _choose_another(select) -> str:
    current = select.input_value()
    other = next(o for o in select.locator("option").all_inner_texts() if o != current)
    select.select_option(label=other)
    return f"chose {other!r}"


def _settled_drawing(box, patience: float) -> str:
    """The drawing once it has stopped changing (a previous move's redraw is finished)."""
    drawing = box.evaluate(DRAWING_JS)
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        time.sleep(SETTLE_SECONDS)
        again = box.evaluate(DRAWING_JS)
        if again == drawing:
            return drawing
        drawing = again
    return drawing


def _watch(box, drawing: str, labels: list[str], patience: float) -> tuple[bool, float]:
    """Wait for the drawing to change or controls to appear; (redrew, seconds)."""
    started = time.monotonic()
    while time.monotonic() - started < patience:
        if box.evaluate(DRAWING_JS) != drawing:
            return True, time.monotonic() - started
        if set(_visible_labels(box)) - set(labels):
            return False, time.monotonic() - started
        time.sleep(0.02)
    return False, time.monotonic() - started


def move_every_control(box, patience: float = REDRAW_SECONDS) -> list[Move]:
    """Move each control of one explorer (revealed ones too); report each control's move.

    Sliders go before switches, so a mode switch cannot hide a slider before it is tried.
    A move that changes nothing drawn within `patience` seconds is reported as such.
    """
    moves: list[Move] = []
    done: set[str] = set()
    while True:
        labels = _visible_labels(box)
        waiting = [label for label in labels if label not in done]
        if not waiting:
            return moves
        waiting.sort(key=lambda label: _is_switch(_control(box, label)))
        label = waiting[0]
        done.add(label)
        for act in _actions(_control(box, label)):
            drawing = _settled_drawing(box, patience)
            action = act()
            redrew, seconds = _watch(box, drawing, labels, patience)
            time.sleep(0.2)  # let a redraw's layout settle before reading what it revealed
            revealed = tuple(sorted(set(_visible_labels(box)) - set(labels)))
            move = Move(label, action, redrew, revealed, seconds)
            if move.ok:
                break
        moves.append(move)


def explorers(page) -> list:
    """Every explorer on the page: an output's widget box that holds a plotly figure."""
    return [box for box in page.locator(EXPLORERS).all()
            if box.locator(".js-plotly-plot").count()]
