"""Fast checks of the built HTML, without a browser (standard library only: html.parser and re).

Each test reads the pages that ``tests/site/conftest.py`` discovers in the built site (``--site-dir``):

- ``test_every_built_page_is_in_the_navigation``: every HTML page of the site (bar Sphinx's genindex/search) is
  reachable from index.html through the sidebar, so the other tests (and readers) see all of them.
- ``test_no_raw_myst_markup``: no MyST role (``{glue}``, ``{cite}``, ``{eq}``, ``{numref}``, ``{doc}``, ...) and no
  directive fence left unparsed in the text of a page (code blocks excepted).
- ``test_no_error_outputs``: no cell output is a traceback, a stderr stream or an ``...Error:`` line, and no docutils
  error markup (system messages, "problematic" nodes) reached the page.
- ``test_images_have_alt_text``: every ``<img>`` carries an alt text that describes it: not empty, and not just a
  file name (what myst-nb writes for an output image without ``:alt:``). This covers the frames of the kernel-free
  players too.
- ``test_saved_widgets_say_they_need_a_kernel``: every live widget saved in a page has its state in the page (or the
  widget manager cannot draw it), and the saved state holds the note of ``diffmem.widgets`` that says that the
  widget needs a running kernel and how to get one.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.site

#: Pages Sphinx writes that are not pages of the book (and are not in the navigation).
SPHINX_PAGES = {"genindex.html", "search.html", "py-modindex.html"}

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
RAW_TEXT = {"script", "style", "pre", "textarea"}  # not prose: code blocks, scripts, styles

RAW_ROLE = re.compile(r"\{(?:glue|cite|eq|numref|doc|ref|math|download|term|abbr|prf)(?::[\w-]+)*\}")
RAW_FENCE = re.compile(r"(?:```|:::)\s*\{[\w:-]+\}")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*[A-Z]\w*(?:Error|Exception|Warning): ", re.M)
IMAGE_FILE = re.compile(r"\.(?:png|jpe?g|gif|svg|webp)$", re.I)
WIDGET_VIEW = re.compile(r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>', re.S)
WIDGET_STATE = re.compile(r'<script type="application/vnd\.jupyter\.widget-state\+json">(.*?)</script>', re.S)
NEEDS_KERNEL = re.compile(r"needs? a (?:running |live )?kernel", re.I)


class _Text(HTMLParser):
    """Text of a page in pieces, each with the classes of the elements around it; also the error-markup elements."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, frozenset[str]]] = []
        self.pieces: list[tuple[str, frozenset[str], bool]] = []  # (text, classes around it, inside raw text)
        self.error_elements: list[str] = []

    def handle_starttag(self, tag, attrs):
        classes = frozenset((dict(attrs).get("class") or "").split())
        if {"output", "stderr"} <= classes or {"output", "traceback"} <= classes or {"output", "error"} <= classes:
            self.error_elements.append(f"<{tag} class={' '.join(sorted(classes))!r}>")
        if classes & {"system-message", "problematic"}:
            self.error_elements.append(f"<{tag} class={' '.join(sorted(classes))!r}> (a docutils error)")
        if tag not in VOID:
            self.stack.append((tag, classes))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):  # close up to the matching tag (tolerates unclosed <p>, <li>)
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if data.strip():
            classes = frozenset().union(*(c for _, c in self.stack))
            raw = any(t in RAW_TEXT for t, _ in self.stack)
            self.pieces.append((data, classes, raw))


def _text(site, page: str) -> _Text:
    parser = _Text()
    parser.feed(site.text(page))
    parser.close()
    return parser


def _snippet(text: str, start: int, width: int = 60) -> str:
    return " ".join(text[max(0, start - width):start + width].split())


def test_every_built_page_is_in_the_navigation(site):
    assert len(site.book_pages) >= 2, f"found only {site.book_pages} from index.html: is the sidebar there?"
    built = {p.relative_to(site.root).as_posix() for p in site.root.rglob("*.html")
             if not p.relative_to(site.root).parts[0].startswith("_")}
    orphans = sorted(built - set(site.pages) - SPHINX_PAGES)
    assert not orphans, f"pages built but not reachable from index.html through the sidebar: {orphans}"


def test_no_raw_myst_markup(site, page):
    found = []
    for text, _classes, raw in _text(site, page).pieces:
        if raw:
            continue
        for pattern in (RAW_ROLE, RAW_FENCE):
            found += [f"{m.group(0)!r} in '...{_snippet(text, m.start())}...'" for m in pattern.finditer(text)]
    assert not found, f"{page}: MyST markup left unparsed in the text: {found}"


def test_no_error_outputs(site, page):
    parsed = _text(site, page)
    found = list(parsed.error_elements)
    for text, classes, _raw in parsed.pieces:
        if "cell_output" in classes:
            found += [f"'...{_snippet(text, m.start())}...'" for m in TRACEBACK.finditer(text)]
    assert not found, f"{page}: error output in the page: {found}"


def _describe_img(img: dict) -> str:
    src = img.get("src") or ""
    src = src[:40] + "..." if src.startswith("data:") else src
    return f"<img id={img.get('id')!r} src={src!r} alt={img.get('alt')!r}>"


def test_images_have_alt_text(site, page):
    bad = []
    for img in site.parsed(page).imgs:
        alt = (img.get("alt") or "").strip()
        src = (img.get("src") or "").strip()
        if not alt or alt == src or IMAGE_FILE.search(alt) or Path(alt).name == Path(src).name:
            bad.append(_describe_img(img))
    assert not bad, (
        f"{page}: images without an alt text that describes them (empty, or a file name). Figures take one from "
        f"glue:figure's :alt:; a kernel-free player's <img id='_anim_img...'> takes one from diffmem.widgets. {bad}"
    )


def test_saved_widgets_say_they_need_a_kernel(site, book_page):
    text = site.text(book_page)
    views = [json.loads(m.group(1))["model_id"] for m in WIDGET_VIEW.finditer(text)]
    if not views:
        return  # no live widget on this page
    states = WIDGET_STATE.findall(text)
    assert len(states) == 1, f"{book_page}: {len(views)} widget views but {len(states)} saved widget states"
    models = json.loads(states[0])["state"]
    missing = [v for v in views if v not in models]
    assert not missing, f"{book_page}: widget views whose model is not saved in the page: {missing}"

    def html_values(model_id, seen=()):
        """The values of the HTML widgets under `model_id` (children followed through IPY_MODEL_ references)."""
        model = models.get(model_id)
        if model is None or model_id in seen:
            return []
        values = [model["state"].get("value", "")] if model["model_name"] in ("HTMLModel", "HTMLMathModel") else []
        for child in model["state"].get("children", []):
            values += html_values(child.removeprefix("IPY_MODEL_"), (*seen, model_id))
        return values

    for view in views:
        notes = [v for v in html_values(view) if NEEDS_KERNEL.search(v)]
        assert notes, f"{book_page}: the live widget {view} has no note saying that it needs a running kernel"
        note = re.sub(r"<[^>]+>", "", notes[0])
        how = [w for w in ("Binder", "Colab", "Jupyter") if w not in note]
        assert not how, f"{book_page}: the live widget's note does not say how to get a kernel (no {how}): {note!r}"
