"""The built book as readers get it: fixtures for the site tests (``python -m pytest tests/site``).

These tests read the HTML that ``jupyter-book build .`` wrote (``_build/html`` by default) and, for the browser
tests, open it in Chromium. They are not part of the default ``python -m pytest`` (``--ignore=tests/site`` in
pyproject's addopts; the default run happens before the book is built): name the folder to run them. With no built
site the run stops at once with a usage error saying how to build it; it never skips silently.

Options (or environment variables):

``--site-dir`` (``DIFFMEM_SITE_DIR``)
    The built site, ``<repo>/_build/html`` by default.
``--site-artifacts`` (``DIFFMEM_SITE_ARTIFACTS``)
    Where the browser tests write a screenshot of every page and ``report.json`` (console messages, blocked and
    failed requests per page); ``<site-dir>/../site-test-artifacts`` by default, i.e. ``_build/site-test-artifacts``.
``--chromium`` (``DIFFMEM_CHROMIUM``)
    The Chromium binary, ``/usr/bin/chromium`` by default (Debian's ``chromium`` package). Playwright's own browser
    downloads (``playwright install``) are never used.
``--site-screenshots`` (``DIFFMEM_SITE_SCREENSHOTS``)
    ``full`` (default: whole pages, as JPEG) or ``viewport`` (the first screen of each page plus every kernel-free
    player with its live widget; a few seconds faster in all).

Pages are discovered from the built site, never listed by hand: ``index.html``, the page it redirects to (the root
document) and every page linked from the sidebar navigation of any page found so far.
"""

from __future__ import annotations

import functools
import html
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHROMIUM = "/usr/bin/chromium"

_REFRESH = re.compile(r"""<meta[^>]+http-equiv=["']?refresh["']?[^>]*content=["'][^"']*url=([^"'>\s]+)""", re.I)


def pytest_addoption(parser):
    group = parser.getgroup("site", "the built book (tests/site)")
    group.addoption("--site-dir", default=os.environ.get("DIFFMEM_SITE_DIR") or str(ROOT / "_build" / "html"),
                    help="the built site to test (default: $DIFFMEM_SITE_DIR or <repo>/_build/html)")
    group.addoption("--site-artifacts", default=os.environ.get("DIFFMEM_SITE_ARTIFACTS"),
                    help="where screenshots and report.json go (default: <site-dir>/../site-test-artifacts)")
    group.addoption("--chromium", default=os.environ.get("DIFFMEM_CHROMIUM") or DEFAULT_CHROMIUM,
                    help=f"the Chromium binary for the browser tests (default: {DEFAULT_CHROMIUM})")
    group.addoption("--site-screenshots", choices=("viewport", "full"),
                    default=os.environ.get("DIFFMEM_SITE_SCREENSHOTS") or "full",
                    help="screenshot whole pages (default) or only their first screen and their explorers (faster)")


def pytest_configure(config):
    site_dir = Path(config.getoption("site_dir")).resolve()
    if not (site_dir / "index.html").is_file():
        raise pytest.UsageError(
            f"tests/site tests the built book, and {site_dir}/index.html does not exist. Build it first "
            "(jupyter-book build . -W --keep-going) or point --site-dir (or DIFFMEM_SITE_DIR) at a built site."
        )


# --- reading the built HTML (standard library only) ---------------------------------------------------------------

class _Page(HTMLParser):
    """What the site tests need from one page: ids, links, images and the sidebar's page links."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.imgs: list[dict[str, str | None]] = []
        self.nav_hrefs: list[str] = []
        self._nav_depth = 0  # > 0 inside the sidebar's <nav class="bd-docs-nav">

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id",) + (("name",) if tag == "a" else ()):
            if a.get(key):
                self.ids.add(a[key])
        if tag == "nav":
            if self._nav_depth:
                self._nav_depth += 1
            elif "bd-docs-nav" in (a.get("class") or "").split():
                self._nav_depth = 1
        if tag == "a" and a.get("href") is not None:
            self.hrefs.append(a["href"])
            if self._nav_depth:
                self.nav_hrefs.append(a["href"])
        if tag == "img":
            self.imgs.append(a)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "nav" and self._nav_depth:
            self._nav_depth -= 1


class Site:
    """The built site on disk: its pages, and the ids and links of each, read with html.parser."""

    def __init__(self, root: Path):
        self.root = root

    def text(self, page: str) -> str:
        return (self.root / page).read_text(encoding="utf-8")

    @functools.cache  # noqa: B019 - one Site per session; pages never change during a run
    def parsed(self, page: str) -> _Page:
        parser = _Page()
        parser.feed(self.text(page))
        parser.close()
        return parser

    def redirect(self, page: str) -> str | None:
        """The page a ``<meta http-equiv="refresh">`` page sends the reader to, or None."""
        m = _REFRESH.search(self.text(page))
        return self.local_page(page, html.unescape(m.group(1))) if m else None

    def local_page(self, page: str, href: str) -> str | None:
        """The site-relative path of the page `href` (relative to `page`) points to, if it is local; else None."""
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or href.startswith("//"):
            return None
        if not parts.path:
            return page
        path = PurePosixPath(unquote(urljoin("/" + page, parts.path)).lstrip("/"))
        if not path.parts or href.rstrip("#").endswith("/"):
            path = path / "index.html"
        return path.as_posix()

    def exists(self, page: str) -> bool:
        target = (self.root / page).resolve()
        return target.is_file() and target.is_relative_to(self.root.resolve())

    @functools.cached_property
    def pages(self) -> list[str]:
        """``index.html``, then the root document and every page reachable through the sidebar, in order."""
        found: list[str] = []
        queue = ["index.html"]
        while queue:
            page = queue.pop(0)
            if page in found or not page.endswith(".html") or not self.exists(page):
                continue
            found.append(page)
            target = self.redirect(page)
            if target:
                queue.append(target)
                continue
            queue.extend(p for href in self.parsed(page).nav_hrefs if (p := self.local_page(page, href)))
        return found

    @functools.cached_property
    def book_pages(self) -> list[str]:
        """The pages with content (index.html is only a redirect to the root document in Jupyter Book 1)."""
        return [p for p in self.pages if self.redirect(p) is None]


@functools.cache
def _site(site_dir: str) -> Site:
    return Site(Path(site_dir).resolve())


def site_for(config) -> Site:
    return _site(config.getoption("site_dir"))


def pytest_generate_tests(metafunc):
    site = site_for(metafunc.config)
    if "page" in metafunc.fixturenames:
        metafunc.parametrize("page", site.pages)
    elif "book_page" in metafunc.fixturenames:
        metafunc.parametrize("book_page", site.book_pages)


@pytest.fixture(scope="session")
def site(request) -> Site:
    return site_for(request.config)


@pytest.fixture(scope="session")
def artifacts(request, site) -> Path:
    """The folder for screenshots and report.json, emptied at the start of the session."""
    opt = request.config.getoption("site_artifacts")
    path = Path(opt) if opt else site.root.parent / "site-test-artifacts"
    if path.resolve() == site.root.resolve() or site.root.resolve().is_relative_to(path.resolve()):
        raise pytest.UsageError(f"--site-artifacts {path} would overwrite the site under test")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
