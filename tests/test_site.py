"""`make site` publishes the notebooks as a static book whose links and figures all work."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest

from labkit import paths

BUILDER = paths.PROJECT_ROOT / "workshop" / "site" / "build_site.py"
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def load_builder():
    spec = importlib.util.spec_from_file_location("build_site", BUILDER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Page(HTMLParser):
    """The links, scripts and element ids of one HTML page."""

    def __init__(self, text: str):
        super().__init__()
        self.links, self.ids, self.scripts = [], set(), []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key) is not None:
                self.links.append(attrs[key])
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])


def internal(link: str) -> bool:
    return not urlsplit(link).scheme and not link.startswith("//")


def broken_links(site: Path) -> list[str]:
    """Every internal link on every page that names a missing file or a missing anchor."""
    pages = {p.name: Page(p.read_text(encoding="utf-8")) for p in site.glob("*.html")}
    broken = []
    for name, page in pages.items():
        for link in filter(internal, page.links):
            parts = urlsplit(link)
            target = name if not parts.path else parts.path
            if not (site / target).is_file():
                broken.append(f"{name}: {link} (no file)")
            elif parts.fragment and target in pages and parts.fragment not in pages[target].ids:
                broken.append(f"{name}: {link} (no anchor)")
    return broken


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The real site, built by the same command `make site` runs, and how long it took."""
    out = tmp_path_factory.mktemp("site") / "_site"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(BUILDER), "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"\nsite built in {seconds:.1f} s: {done.stdout.strip()}")
    return out


def notebooks() -> list[Path]:
    return sorted((paths.PROJECT_ROOT / "notebooks").glob("*.ipynb"))


def test_every_notebook_has_a_page_listed_on_the_index(site):
    index = Page((site / "index.html").read_text(encoding="utf-8"))
    for notebook in notebooks():
        page = f"{notebook.stem}.html"
        assert (site / page).is_file(), f"no page for {notebook.name}"
        assert page in index.links, f"the index does not link {page}"


def test_every_internal_link_resolves(site):
    assert broken_links(site) == []


def test_pages_chain_in_reading_order(site):
    stems = [n.stem for n in notebooks()]
    for before, after in zip(stems, stems[1:], strict=False):
        text = (site / f"{before}.html").read_text(encoding="utf-8")
        assert f'href="{after}.html" rel="next"' in text
        assert f'href="{before}.html" rel="prev"' in (site / f"{after}.html").read_text()


def test_every_stored_figure_is_drawn_by_the_sites_own_plotly(site):
    plotly_js = site / "_static" / "plotly.min.js"
    assert plotly_js.stat().st_size > 1_000_000  # the full bundle, not a stub
    for notebook in notebooks():
        nb = nbformat.read(notebook, as_version=4)
        stored = [o["data"][PLOTLY_MIME] for c in nb.cells for o in c.get("outputs", [])
                  if PLOTLY_MIME in o.get("data", {})]
        text = (site / f"{notebook.stem}.html").read_text(encoding="utf-8")
        page = Page(text)
        assert page.scripts[0] == "_static/plotly.min.js", "plotly.js must load first"
        assert not any("require" in s for s in page.scripts), "require.js hides plotly's global"
        assert all(map(internal, page.scripts)), "every script comes from the site (offline)"
        assert not re.search(r"""import[^;]*["']https?://""", text), "a script imports from the web"
        assert text.count("Plotly.newPlot(") == len(stored)
        for k, figure in enumerate(stored):
            assert f"{notebook.stem}-fig{k}" in page.ids
            first_trace = json.dumps(figure["data"][0]["type"]) if figure["data"] else None
            assert first_trace is None or f'"type":{first_trace}' in text.replace(": ", ":")
        assert PLOTLY_MIME not in text


def test_explorers_say_they_need_a_kernel(site):
    for notebook in notebooks():
        nb = nbformat.read(notebook, as_version=4)
        widgets = sum("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                      for c in nb.cells for o in c.get("outputs", []))
        text = (site / f"{notebook.stem}.html").read_text(encoding="utf-8")
        assert text.count("An interactive explorer lives here") == widgets


def test_links_between_notebooks_become_links_between_pages(tmp_path):
    builder = load_builder()
    folder = tmp_path / "notebooks"
    folder.mkdir()
    first = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "# One\n\nNext: [two](02_two.ipynb#The-end), the [README](../README.md) and "
        "[the web](https://example.org/x.ipynb).")])
    second = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Two\n\n## The end\n\nBack to [one](./01_one.ipynb).")])
    nbformat.write(first, folder / "01_one.ipynb")
    nbformat.write(second, folder / "02_two.ipynb")
    readme = tmp_path / "README.md"
    readme.write_text("# Lab\n\nStart with [one](notebooks/01_one.ipynb).\n")
    out = tmp_path / "_site"
    built = builder.build(out, notebooks_dir=folder, readme=readme)
    assert built["pages"] == ["01_one.html", "02_two.html"]
    one = (out / "01_one.html").read_text()
    assert 'href="02_two.html#The-end"' in one
    assert 'href="index.html"' in one
    assert 'href="https://example.org/x.ipynb"' in one
    assert 'href="01_one.html"' in (out / "02_two.html").read_text()
    assert broken_links(out) == []
    # and the check itself notices a link to nowhere
    (out / "extra.html").write_text('<a href="03_three.html">x</a><a href="01_one.html#no">')
    assert sorted(broken_links(out)) == ["extra.html: 01_one.html#no (no anchor)",
                                         "extra.html: 03_three.html (no file)"]
