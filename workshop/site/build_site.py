"""Publish the notebooks, with their stored outputs, as a small static site (make site).

Why not Jupyter Book 2 / MyST? Their HTML build downloads its theme from the internet at
build time, which a workshop VM or CI machine may not reach. nbconvert (already in the
lab's environment) renders each notebook as JupyterLab shows it; this script adds what a
book needs: an index, links between pages, plotly figures drawn from their stored JSON by
plotly.js served from the site itself, and a note where an explorer needs a live kernel.
Nothing is executed: the site shows exactly the outputs committed with the notebooks.
"""

from __future__ import annotations

import argparse
import copy
import html
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
import plotly
import plotly.io as pio
from nbconvert import HTMLExporter
from nbconvert.filters import markdown2html_mistune

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ('<p class="book-note">An interactive explorer lives here. Open this notebook '
               "in JupyterLab and run it to move its controls: a static page has no kernel."
               "</p>")
LINK = re.compile(r'(href|src)="([^"#:?]+\.(?:ipynb|md))(#[^"]*)?"')


def page_name(notebook: Path) -> str:
    return notebook.stem + ".html"


def title_of(nb) -> str:
    """The first Markdown heading, else the file name."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def figure_html(data: dict, div_id: str) -> str:
    """A stored plotly figure as a div drawn by the page's plotly.js."""
    figure = {key: data[key] for key in ("data", "layout", "frames") if key in data}
    return pio.to_html(figure, config=data.get("config") or {}, include_plotlyjs=False,
                       full_html=False, validate=False, div_id=div_id)


def static_outputs(nb, stem: str) -> tuple[object, int]:
    """A copy of the notebook whose figures and explorers have HTML a static page can show."""
    nb = copy.deepcopy(nb)
    figures = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if PLOTLY_MIME in data:
                data["text/html"] = figure_html(data.pop(PLOTLY_MIME), f"{stem}-fig{figures}")
                data.pop("text/plain", None)
                figures += 1
            elif WIDGET_MIME in data:
                data.pop(WIDGET_MIME)
                data.pop("text/plain", None)
                data["text/html"] = WIDGET_NOTE
    return nb, figures


def rewrite_links(text: str, pages: dict[str, str]) -> str:
    """Point links to notebooks and the README at their pages on the site."""
    def swap(match):
        target = Path(match.group(2)).name
        if target not in pages:
            return match.group(0)
        return f'{match.group(1)}="{pages[target]}{match.group(3) or ""}"'
    return LINK.sub(swap, text)


def nav(entries: list[tuple[str, str]], index: int) -> str:
    """Contents, previous and next for page `index` of the book."""
    parts = ['<a href="index.html">Contents</a>']
    if index > 0:
        href, title = entries[index - 1]
        parts.append(f'<a href="{href}" rel="prev">&larr; {html.escape(title)}</a>')
    if index + 1 < len(entries):
        href, title = entries[index + 1]
        parts.append(f'<a href="{href}" rel="next">{html.escape(title)} &rarr;</a>')
    return '<nav class="book">' + "".join(parts) + "</nav>"


def index_page(readme: str, entries: list[tuple[str, str]], pages: dict[str, str]) -> str:
    """The README as the front page, then the list of notebook pages."""
    body = rewrite_links(markdown2html_mistune(readme), pages)
    items = "".join(f'<li><a href="{href}">{html.escape(title)}</a></li>'
                    for href, title in entries)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\">"
            "<title>The agents lab</title><style>body{font-family:sans-serif;max-width:52em;"
            "margin:2em auto;padding:0 1em;line-height:1.5}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.2em .5em}pre{background:#f5f5f5;"
            "padding:.5em;overflow:auto}</style></head><body>"
            f"<nav><h2>The notebooks</h2><ol>{items}</ol></nav><hr>{body}</body></html>\n")


def build(out: Path, notebooks_dir: Path = PROJECT / "notebooks",
          readme: Path = PROJECT / "README.md") -> dict:
    """Write the site into `out` (replaced); return what was built."""
    notebooks = sorted(notebooks_dir.glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks in {notebooks_dir}")
    if out.exists():
        shutil.rmtree(out)
    (out / "_static").mkdir(parents=True)
    shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
                out / "_static" / "plotly.min.js")
    loaded = [(path, nbformat.read(path, as_version=4)) for path in notebooks]
    entries = [(page_name(path), title_of(nb) or path.stem) for path, nb in loaded]
    pages = {path.name: page_name(path) for path in notebooks} | {readme.name: "index.html"}
    exporter = HTMLExporter(template_name="lab",
                            template_file=str(HERE / "templates" / "book.html.j2"))
    figures = {}
    for index, (path, nb) in enumerate(loaded):
        static, figures[path.name] = static_outputs(nb, path.stem)
        body, _ = exporter.from_notebook_node(
            static, resources={"book_nav": nav(entries, index),
                               "metadata": {"name": entries[index][1]}})
        (out / page_name(path)).write_text(rewrite_links(body, pages), encoding="utf-8")
    (out / "index.html").write_text(index_page(readme.read_text(), entries, pages),
                                    encoding="utf-8")
    return {"pages": [href for href, _ in entries], "figures": figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT / "_site", help="folder to write")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    built = build(args.out)
    print(f"site: {len(built['pages'])} notebook pages, {sum(built['figures'].values())} "
          f"figures, in {time.perf_counter() - started:.1f} s -> {args.out}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
