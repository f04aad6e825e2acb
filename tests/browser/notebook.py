"""One notebook open in JupyterLab, driven the way an attendee drives it.

Opening, "Kernel > Restart Kernel and Run All Cells..." and its confirmation go through the
menus; reading what happened goes through the notebook's own model, which JupyterLab exposes
to the page (`--expose-app-in-browser`), and through the rendered DOM.
"""

from __future__ import annotations

from dataclasses import dataclass

OPEN_SECONDS = 120      # first open builds the page and starts a kernel on a busy machine
RUN_ALL_SECONDS = 600   # the slowest notebook takes about a minute on 2 cores
CELL_SECONDS = 300

NOTEBOOK_JS = "window.jupyterapp.shell.currentWidget"
KERNEL_READY_JS = f"""() => {{
  const nb = window.jupyterapp && {NOTEBOOK_JS};
  const kernel = nb && nb.sessionContext && nb.sessionContext.session
                 && nb.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle' && nb.content.widgets.length > 0;
}}"""
# Run All is over when the kernel is idle and no cell is queued or running.
SETTLED_JS = f"""() => {{
  const nb = {NOTEBOOK_JS};
  const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle'
         && nb.content.widgets.every(c => c.model.type !== 'code'
                                          || c.model.executionState !== 'running');
}}"""
CELLS_JS = f"""() => {{
  const nb = {NOTEBOOK_JS};
  return nb.content.widgets.map((cell, index) => ({{
    index: index, type: cell.model.type, source: cell.model.sharedModel.getSource(),
    count: cell.model.type === 'code' ? cell.model.executionCount : null,
    outputs: cell.model.type === 'code' ? cell.model.outputs.toJSON() : [],
    rendered: cell.node.querySelector('.jp-OutputArea')
              ? cell.node.querySelector('.jp-OutputArea').innerText : ''}}));
}}"""
# Phrases JupyterLab and ipywidgets print when a widget's front end is missing or broken.
WIDGET_FAILURES = ("Error displaying widget", "Model not found", "Failed to load model class")


@dataclass(frozen=True)
class Cell:
    index: int
    type: str
    source: str
    count: int | None
    outputs: list[dict]
    rendered: str   # the output area's text as shown on the page

    @property
    def errors(self) -> list[str]:
        """Error outputs (a traceback's last line each)."""
        return [f"{o.get('ename')}: {o.get('evalue')}" for o in self.outputs
                if o.get("output_type") == "error"]

    @property
    def text(self) -> str:
        """Everything the cell printed or returned, as text."""
        parts = []
        for output in self.outputs:
            if output.get("output_type") == "stream":
                parts.append(_joined(output.get("text", "")))
            elif "data" in output:
                parts.append(_joined(output["data"].get("text/plain", "")))
            elif output.get("output_type") == "error":
                parts.append(f"{output.get('ename')}: {output.get('evalue')}")
        return "".join(parts)

    def head(self) -> str:
        return self.source.strip().splitlines()[0][:80] if self.source.strip() else ""


def _joined(text) -> str:
    return "".join(text) if isinstance(text, list) else str(text)


class Notebook:
    """The notebook in the page's main area."""

    def __init__(self, page, server, name: str, profile: str = "as-is"):
        self.page, self.server, self.name, self.profile = page, server, name, profile
        self.problems_as_opened: list[tuple[int, str]] = []  # in the stored outputs

    def open(self) -> Notebook:
        # ?reset: a fresh workspace, so no notebook from an earlier page is reopened
        self.page.goto(self.server.url(f"lab/tree/notebooks/{self.name}?reset"))
        self.page.wait_for_function(KERNEL_READY_JS, timeout=OPEN_SECONDS * 1000, polling=250)
        return self

    def restart_and_run_all(self) -> None:
        """Kernel > Restart Kernel and Run All Cells..., confirm, wait until it settles."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text="Kernel").click()
        self.page.locator(".lm-Menu-itemLabel",
                          has_text="Restart Kernel and Run All Cells").click()
        self.page.locator(".jp-Dialog .jp-mod-accept").click()
        # the restart first leaves the kernel idle with every cell queued: wait for a count
        self.page.wait_for_function(
            f"() => {NOTEBOOK_JS}.content.widgets.some(c => c.model.type === 'code' "
            "&& c.model.executionCount !== null)", timeout=OPEN_SECONDS * 1000, polling=250)
        self.wait_until_settled(RUN_ALL_SECONDS)

    def wait_until_settled(self, seconds: float) -> None:
        self.page.wait_for_function(SETTLED_JS, timeout=seconds * 1000, polling=250)

    def cells(self) -> list[Cell]:
        return [Cell(**c) for c in self.page.evaluate(CELLS_JS)]

    def code_cells(self) -> list[Cell]:
        return [c for c in self.cells() if c.type == "code" and c.source.strip()]

    def cell_containing(self, marker: str) -> Cell:
        found = [c for c in self.cells() if c.type == "code" and marker in c.source]
        assert len(found) == 1, f"{self.name}: expected one code cell containing {marker!r}, " \
                                f"found {len(found)}"
        return found[0]

    def rerun(self, index: int, source: str) -> Cell:
        """Put new source in a cell and run it (Run > Run Selected Cell); return the result."""
        before = self.cells()[index].count or 0
        self.page.evaluate(
            f"""([index, source]) => {{
              const nb = {NOTEBOOK_JS};
              nb.content.widgets[index].model.sharedModel.setSource(source);
              nb.content.activeCellIndex = index;
              nb.content.deselectAll();
              nb.content.mode = 'command';
            }}""", [index, source])
        self.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
        self.page.wait_for_function(
            f"""([index, before]) => {{
              const cell = {NOTEBOOK_JS}.content.widgets[index];
              return cell.model.executionState !== 'running'
                     && cell.model.executionCount !== null && cell.model.executionCount > before;
            }}""", arg=[index, before], timeout=CELL_SECONDS * 1000, polling=250)
        self.wait_until_settled(CELL_SECONDS)
        return self.cells()[index]

    def page_text(self) -> str:
        return self.page.evaluate(f"() => {NOTEBOOK_JS}.content.node.textContent")

    def widget_failures(self) -> list[str]:
        text = self.page_text()
        return [phrase for phrase in WIDGET_FAILURES if phrase.lower() in text.lower()]

    def shut_down_kernel(self) -> None:
        self.page.evaluate(f"() => {NOTEBOOK_JS}.sessionContext.shutdown()")
