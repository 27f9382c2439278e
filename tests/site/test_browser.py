"""The built book in a real browser: Chromium (Debian's ``chromium``) driven by Playwright, offline.

The site is served from ``--site-dir`` by an ``http.server`` thread on 127.0.0.1; every request that is not for that
origin is aborted and recorded, so the pages are seen as a reader without network (or behind a strict proxy) sees
them, and a page that still needs a CDN fails here. Each page (``index.html``, the root document and every chapter,
discovered from the sidebar) is opened once, in a browser context of its own (empty storage: a reader's first visit);
the tests below check what was recorded:

- ``test_page_loads``: HTTP 200, no uncaught JavaScript error, no request to the local site that failed (a missing
  asset, a 404); a screenshot of the page (``--site-screenshots``) is saved in the artefacts folder. For
  ``index.html``, a redirect to the root document in Jupyter Book 1, only its status and that it lands on its target
  (the rest is the target's).
- ``test_no_request_leaves_the_site``: the page asked for nothing outside the local site (the requests blocked).
- ``test_math_is_typeset``: where the page has math (Sphinx's ``.math`` elements), MathJax loaded and every one of
  them holds an ``mjx-container``.
- ``test_no_raw_tex_in_the_text``: no ``$$``, ``\\(``, ``\\[`` or ``$\\command`` left in the text (code excepted).
- ``test_kernel_free_sliders_change_the_frame``: every player of ``diffmem.widgets.explore`` (an ``<input
  type=range>`` over frames shown in an ``<img>``) is there and works: moving the slider with the keyboard and the
  step buttons changes the image, each slider position shows its own frame, and every frame decodes.
- ``test_live_widgets_say_they_need_a_kernel``: every live (ipywidgets) area saved in the page is drawn by the widget
  manager and says, in text the reader sees, that it needs a running kernel and how to get one (Binder, Colab or a
  local Jupyter); the launch (rocket) button the note points to is visible and offers Binder and Colab for the
  page's own notebook.
- ``test_internal_links_resolve``: every ``<a href>`` to the local site points to an existing file, and every
  ``#fragment`` to an id on its target page.
- ``test_no_console_errors``: no console error, bar the short allow-list ``CONSOLE_ALLOWED`` below.

Screenshots and ``report.json`` (console messages, blocked and failed requests, per page) are written to
``--site-artifacts`` (``_build/site-test-artifacts`` by default).
"""

from __future__ import annotations

import dataclasses
import functools
import http.server
import json
import re
import threading
import time
from collections.abc import Generator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = pytest.mark.site

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 30_000
MATHJAX_TIMEOUT_MS = 20_000
WIDGET_TIMEOUT_MS = 10_000  # the widget manager draws within a second or two of the page's load once it is there

#: Console errors that are not defects of the book, as (regex on the message, why it is allowed). Keep it short:
#: every entry hides a class of messages from every page.
CONSOLE_ALLOWED: list[tuple[str, str]] = []

NEEDS_KERNEL = re.compile(r"needs? a (?:running |live )?kernel", re.I)
RAW_TEX = re.compile(r"\$\$|\\\(|\\\[|\$\\[A-Za-z]+")

_WAIT_MATHJAX = """async (ms) => {
    const mj = window.MathJax;
    if (!mj || !mj.startup || !mj.startup.promise) return null;   // the configuration only: MathJax never loaded
    const done = await Promise.race([mj.startup.promise.then(() => true),
                                     new Promise(resolve => setTimeout(() => resolve(false), ms))]);
    return done ? (mj.version || "?") : "unfinished";
}"""

_MATH = """() => {
    const math = [...document.querySelectorAll('.math')];
    const bare = math.filter(el => !el.querySelector('mjx-container'));
    return {elements: math.length, containers: document.querySelectorAll('mjx-container').length,
            untypeset: bare.slice(0, 5).map(el => el.textContent.trim().slice(0, 80))};
}"""

_RAW_TEX = r"""(pattern) => {
    const re = new RegExp(pattern, 'g'), found = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node; (node = walker.nextNode());) {
        const el = node.parentElement;
        if (!el || el.closest('pre, code, script, style, textarea, mjx-container')) continue;
        const text = node.textContent;
        for (const m of text.matchAll(re))
            found.push(text.slice(Math.max(0, m.index - 40), m.index + 40).replace(/\s+/g, ' '));
    }
    return found;
}"""

_PLAYERS_READY = """() => [...document.querySelectorAll('div.animation')].every(r => {
    const img = r.querySelector('img'), s = r.querySelector('input[type=range]');
    return img && s && (img.getAttribute('src') || '').startsWith('data:image') && +s.max > 0;
})"""

_PLAYER_STATE = """r => ({src: r.querySelector('img').getAttribute('src') || '',
                     value: +r.querySelector('input[type=range]').value,
                     max: +r.querySelector('input[type=range]').max})"""

_SWEEP = """async r => {
    const img = r.querySelector('img'), s = r.querySelector('input[type=range]'), out = [];
    const fnv1a = str => {  // a digest of the whole data URI, so that frames are compared without shipping them
        let h = 0x811c9dc5;
        for (let i = 0; i < str.length; i++) h = Math.imul(h ^ str.charCodeAt(i), 0x01000193);
        return (h >>> 0).toString(16) + ':' + str.length;
    };
    for (let v = +s.min; v <= +s.max; v++) {
        s.value = v;
        s.dispatchEvent(new Event('input', {bubbles: true}));
        const src = img.getAttribute('src') || '', probe = new Image();
        probe.src = src;
        let width = 0;
        try { await probe.decode(); width = probe.naturalWidth; } catch (e) { width = 0; }
        out.push({value: v, src_hash: fnv1a(src), width});
    }
    return out;
}"""

_WIDGETS = """() => [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')].map(s => {
    const area = s.closest('.cell_output') || s.parentElement;
    return {model_id: JSON.parse(s.textContent).model_id, text: area.innerText,
            drawn: area.querySelectorAll('.jupyter-widgets, .widget-subarea').length};
})"""

_WIDGETS_DRAWN = """(pattern) => {
    const re = new RegExp(pattern, 'i');
    return [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')]
        .every(s => re.test((s.closest('.cell_output') || s.parentElement).innerText));
}"""

_LINKS = "() => [...document.querySelectorAll('a[href]')].map(a => a.href)"
_IDS = "() => [...document.querySelectorAll('[id], a[name]')].map(el => el.id || el.getAttribute('name'))"


@dataclasses.dataclass(repr=False)
class Visit:
    """What one page did in the browser (see the module docstring); written to report.json."""

    page: str
    url: str
    final_url: str = ""
    status: int | None = None
    page_errors: list[str] = dataclasses.field(default_factory=list)
    console: list[dict] = dataclasses.field(default_factory=list)
    blocked: list[dict] = dataclasses.field(default_factory=list)
    failed: list[str] = dataclasses.field(default_factory=list)
    mathjax: str | None = None
    math: dict = dataclasses.field(default_factory=dict)
    raw_tex: list[str] = dataclasses.field(default_factory=list)
    players: list[dict] = dataclasses.field(default_factory=list)
    widgets: list[dict] = dataclasses.field(default_factory=list)
    links: list[str] = dataclasses.field(default_factory=list)
    dom_ids: list[str] = dataclasses.field(default_factory=list)
    launch: dict = dataclasses.field(default_factory=dict)
    screenshot: str = ""
    problems: list[str] = dataclasses.field(default_factory=list)  # what went wrong while visiting
    seconds: dict = dataclasses.field(default_factory=dict)  # time spent in each stage of the visit

    def __repr__(self):  # short, for pytest's assertion messages; the whole record is in report.json
        return f"Visit({self.page!r})"


# --- the server and the browser -----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def server(site):
    """The built site on http://127.0.0.1:<free port>, served by a thread for the session."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(site.root), **kwargs)

        def log_message(self, *args):  # keep the test output clean; failures are recorded by the browser
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture(scope="session")
def browser(request):
    """Headless Chromium; fails (never skips) when Playwright or Chromium is missing.

    ``launch`` gives the browser a fresh temporary profile, and every page gets a new context of its own (empty
    storage, cache and cookies), so each page is seen as on a reader's first visit, whatever the order of the tests.
    """
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only the browser tests need it
    except ImportError:
        pytest.fail("the browser tests need Playwright: python -m pip install -e '.[site]' (then no `playwright "
                    "install`: they use the system's Chromium)", pytrace=False)
    chromium = request.config.getoption("chromium")
    if not Path(chromium).is_file():
        pytest.fail(f"no Chromium at {chromium}: apt-get install -y chromium, or pass --chromium / set "
                    "DIFFMEM_CHROMIUM", pytrace=False)
    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
    except Exception:
        pw.stop()
        raise
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture(scope="session")
def visits(request, site, server, browser, artifacts):
    """Each page visited once, on first use; report.json written at the end of the session.

    While a page is inspected, the browser already loads the next one of the site's order (in its own context), which
    saves about a third of the time on 2 cores; nothing is shared between the two.
    """
    done: dict[str, Visit] = {}
    loading: dict[str, Generator[None, None, Visit]] = {}
    full_page = request.config.getoption("site_screenshots") == "full"

    def start(page: str) -> None:
        steps = _visit(browser, server, site, page, artifacts, full_page)
        try:
            next(steps)  # up to the start of the navigation
            loading[page] = steps
        except StopIteration as stop:  # the navigation failed at once; the visit records why
            done[page] = stop.value

    def visit(page: str) -> Visit:
        if page not in done:
            if page not in loading:
                start(page)
            following = site.pages[site.pages.index(page) + 1:] if page in site.pages else []
            for ahead in following[:1]:
                if ahead not in done and ahead not in loading:
                    start(ahead)
            if page in loading:
                try:
                    next(loading.pop(page))
                except StopIteration as stop:
                    done[page] = stop.value
        return done[page]

    yield visit
    for steps in loading.values():  # pages started but never asked for (e.g. with -k): close their contexts
        steps.close()
    report = {page: dataclasses.asdict(v) | {"links": len(v.links), "dom_ids": len(v.dom_ids)}
              for page, v in done.items()}
    (artifacts / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")


def _visit(browser, base: str, site, page_path: str, artifacts: Path, full_page: bool) -> Generator[None, None, Visit]:
    """Visit one page in two steps: start the navigation (first ``next``), then wait for it and inspect the page."""
    from playwright.sync_api import Error as PlaywrightError  # noqa: PLC0415
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: PLC0415

    v = Visit(page=page_path, url=f"{base}/{page_path}")
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1, locale="en-US", timezone_id="UTC",
                                  reduced_motion="reduce", service_workers="block")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()

    def route(r):
        if r.request.url == base or r.request.url.startswith(base + "/"):
            r.continue_()
        else:
            v.blocked.append({"url": r.request.url, "type": r.request.resource_type})
            r.abort("blockedbyclient")

    def local_failure(request):
        if request.url.startswith(base + "/"):
            v.failed.append(f"{request.url} ({request.failure})")

    def local_status(response):
        if response.url.startswith(base + "/") and response.status >= 400:
            v.failed.append(f"{response.url} -> HTTP {response.status}")

    clock = [time.perf_counter()]

    def lap(stage):
        now = time.perf_counter()
        v.seconds[stage] = round(now - clock[0], 2)
        clock[0] = now

    page.route("**/*", route)
    page.on("console", lambda m: v.console.append({"type": m.type, "text": m.text, "url": m.location.get("url")}))
    page.on("pageerror", lambda e: v.page_errors.append(f"{e.name}: {e.message}"))
    page.on("requestfailed", local_failure)
    page.on("response", local_status)
    try:
        response = page.goto(v.url, wait_until="commit")
        v.status = response.status if response else None
        yield  # the browser goes on loading this page while the previous one is inspected
        clock[0] = time.perf_counter()  # "load" below: only the wait that was left
        page.wait_for_load_state("load")
        target = site.redirect(page_path)
        if target:  # index.html: a <meta http-equiv="refresh"> to the root document
            page.wait_for_url(f"{base}/{target}", wait_until="load")
        try:
            page.wait_for_load_state("networkidle", timeout=15_000)
        except PlaywrightTimeout:
            v.problems.append("the network never went idle (15 s)")
        v.final_url = page.url
        lap("load")
        if target:
            return v

        v.mathjax = page.evaluate(_WAIT_MATHJAX, MATHJAX_TIMEOUT_MS)
        if v.mathjax == "unfinished":
            v.problems.append(f"MathJax had not finished typesetting after {MATHJAX_TIMEOUT_MS} ms")
        v.math = page.evaluate(_MATH)
        v.raw_tex = page.evaluate(_RAW_TEX, RAW_TEX.pattern)
        v.links = page.evaluate(_LINKS)
        v.dom_ids = page.evaluate(_IDS)
        lap("math, text and links")

        if page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count():
            blocked_scripts = [b["url"] for b in v.blocked if b["type"] == "script"]
            if blocked_scripts:  # the widget manager cannot come: do not wait for it
                v.problems.append(f"scripts were blocked, so live widgets cannot be drawn: {blocked_scripts}")
            else:
                try:
                    page.wait_for_function(_WIDGETS_DRAWN, arg=NEEDS_KERNEL.pattern, timeout=WIDGET_TIMEOUT_MS)
                except PlaywrightTimeout:
                    v.problems.append(f"live widgets not drawn within {WIDGET_TIMEOUT_MS} ms")
            v.widgets = page.evaluate(_WIDGETS)
            lap("live widgets")

        stem = page_path.removesuffix(".html").replace("/", "__")
        shot = artifacts / f"{stem}.jpg"
        page.screenshot(path=str(shot), full_page=full_page, type="jpeg", quality=80)  # PNG: twice the time, size
        v.screenshot = str(shot)
        if not full_page:  # the interactive parts, which the first screen does not show
            areas = page.locator("div.cell_output:has(div.animation)")
            for i in range(areas.count()):
                areas.nth(i).screenshot(path=str(artifacts / f"{stem}__explorer{i + 1}.jpg"), type="jpeg", quality=80)
        lap("screenshot")

        if v.widgets:
            v.launch = _try_launch_menu(page)
        v.players = _try_players(page, v)
        lap("launch menu and players")
    except PlaywrightError as exc:  # timeouts included: record, so that the tests report it with the page's context
        v.problems.append(f"error: {exc.message.splitlines()[0]}")
    finally:
        context.close()
    return v


def _try_launch_menu(page) -> dict:
    """Open the launch (rocket) menu at the top of the page as a reader would; record what it offers."""
    button = page.locator(".dropdown-launch-buttons button").first
    if not button.count() or not button.is_visible():
        return {"visible": False, "items": []}
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: PLC0415

    button.click()
    items = page.locator(".dropdown-launch-buttons .dropdown-menu a")
    try:
        items.first.wait_for(state="visible", timeout=5_000)
    except PlaywrightTimeout:
        return {"visible": True, "items": [], "problem": "the menu did not open within 5 s"}
    found = [{"text": " ".join(a.inner_text().split()), "href": a.get_attribute("href") or ""}
             for a in items.all() if a.is_visible()]
    page.keyboard.press("Escape")
    return {"visible": True, "items": found}


def _try_players(page, v: Visit) -> list[dict]:
    """Move every kernel-free player as a reader would, and record what its image showed."""
    players = page.locator("div.animation")
    if not players.count():
        return []
    page.wait_for_function(_PLAYERS_READY, timeout=5_000)
    results = []
    for i in range(players.count()):
        root = players.nth(i)
        first = root.evaluate(_PLAYER_STATE)
        slider = root.locator("input[type=range]")
        slider.focus()
        page.keyboard.press("End")  # a reader's keyboard: the slider to its last position
        last = root.evaluate(_PLAYER_STATE)
        root.locator("button[title='Previous frame']").click()
        previous = root.evaluate(_PLAYER_STATE)
        root.locator("button[title='First frame']").click()
        back = root.evaluate(_PLAYER_STATE)
        sweep = root.evaluate(_SWEEP)
        results.append({
            "frames": first["max"] + 1,
            "keyboard_end": {"value": last["value"], "changed": last["src"] != first["src"]},
            "previous_button": {"value": previous["value"], "changed": previous["src"] != last["src"]},
            "first_button": {"value": back["value"], "same_as_start": back["src"] == first["src"]},
            "distinct_frames": len({s["src_hash"] for s in sweep}),
            "undecodable": [s["value"] for s in sweep if not s["width"]],
        })
    return results


# --- the tests ----------------------------------------------------------------------------------------------------

def _context(v: Visit) -> str:
    """What else went wrong on the page: often the cause of a failure (e.g. a blocked CDN script)."""
    lines = [f"problems while visiting: {v.problems}"] if v.problems else []
    if v.blocked:
        lines.append(f"blocked requests outside the site: {sorted({b['url'] for b in v.blocked})}")
    return ("\n" + "\n".join(lines)) if lines else ""


def test_page_loads(visits, site, page):
    v = visits(page)
    assert v.status == 200, f"{page}: HTTP {v.status}{_context(v)}"
    target = site.redirect(page)
    if target:  # index.html: what happens on the target is checked on the target's own visit
        assert v.final_url.endswith("/" + target), f"{page} should redirect to {target}, ended on {v.final_url}"
        return
    assert v.final_url.split("#")[0].endswith("/" + page), f"{page}: ended on {v.final_url}"
    assert v.screenshot and Path(v.screenshot).stat().st_size > 0, f"{page}: no screenshot"
    assert not v.page_errors, f"{page}: uncaught JavaScript errors: {v.page_errors}"
    assert not v.failed, f"{page}: requests to the site that failed: {v.failed}"
    errors = [p for p in v.problems if p.startswith("error:")]
    assert not errors, f"{page}: the visit broke off: {errors}{_context(v)}"


def test_no_request_leaves_the_site(visits, book_page):
    page = book_page
    v = visits(page)
    assert not v.blocked, (
        f"{page}: the page requests resources outside the site (blocked here, so offline readers lose them): "
        + "\n".join(f"  {b['type']}: {b['url']}" for b in v.blocked)
    )


def test_math_is_typeset(visits, book_page):
    v = visits(book_page)
    if not v.math.get("elements"):
        return  # no math on this page
    assert v.mathjax, (
        f"{book_page}: the page has {v.math['elements']} math elements but MathJax did not load{_context(v)}"
    )
    assert not v.math["untypeset"], (
        f"{book_page}: math elements without an mjx-container (MathJax {v.mathjax}), e.g. {v.math['untypeset']}"
        f"{_context(v)}"
    )


def test_no_raw_tex_in_the_text(visits, book_page):
    v = visits(book_page)
    assert not v.raw_tex, f"{book_page}: raw TeX in the text readers see: {v.raw_tex[:8]}{_context(v)}"


def test_kernel_free_sliders_change_the_frame(visits, site, book_page):
    v = visits(book_page)
    expected = site.text(book_page).count('<img id="_anim_img')
    assert len(v.players) == expected, (
        f"{book_page}: {expected} kernel-free players in the HTML, {len(v.players)} found working{_context(v)}"
    )
    for i, p in enumerate(v.players):
        where = f"{book_page}, player {i + 1} of {len(v.players)}"
        assert p["frames"] >= 2, f"{where}: only {p['frames']} frame(s): {p}"
        assert p["keyboard_end"] == {"value": p["frames"] - 1, "changed": True}, f"{where}: End key: {p}"
        assert p["previous_button"] == {"value": p["frames"] - 2, "changed": True}, f"{where}: previous: {p}"
        assert p["first_button"] == {"value": 0, "same_as_start": True}, f"{where}: first frame button: {p}"
        assert p["distinct_frames"] == p["frames"], f"{where}: slider positions share frames: {p}"
        assert not p["undecodable"], f"{where}: frames that do not decode as images: {p}"


def test_live_widgets_say_they_need_a_kernel(visits, site, book_page):
    v = visits(book_page)
    saved = site.text(book_page).count('<script type="application/vnd.jupyter.widget-view+json">')
    assert len(v.widgets) == saved, f"{book_page}: {saved} live widgets saved, {len(v.widgets)} seen"
    for w in v.widgets:
        text = " ".join(w["text"].split())
        assert NEEDS_KERNEL.search(text), (
            f"{book_page}: the live widget {w['model_id']} does not say (in text readers see) that it needs a "
            f"running kernel; {w['drawn']} widget elements drawn; its area reads {text[:300]!r}{_context(v)}"
        )
        how = [word for word in ("Binder", "Colab", "Jupyter") if word not in text]
        assert not how, f"{book_page}: the live widget's note does not say how to get a kernel ({how}): {text!r}"
    if v.widgets:  # the note sends readers to the rocket button: it must be there and launch this very notebook
        notebook = book_page.removesuffix(".html")
        assert v.launch.get("visible"), f"{book_page}: no visible launch (rocket) button at the top of the page"
        offered = {item["text"] for item in v.launch["items"] if notebook in item["href"]}
        assert {"Binder", "Colab"} <= offered, (
            f"{book_page}: the launch menu should offer Binder and Colab for {notebook}: {v.launch['items']}"
        )


def _site_path(site, base: str, url: str) -> tuple[str, str] | None:
    """(site-relative file, fragment) of a URL on the local site; None for any other URL."""
    if not url.startswith(base + "/"):
        return None
    parts = urlsplit(url)
    path = unquote(parts.path).lstrip("/")
    if not path or path.endswith("/"):
        path += "index.html"
    return path, unquote(parts.fragment)


def test_internal_links_resolve(visits, site, server, book_page):
    v = visits(book_page)
    assert v.links, f"{book_page}: no links found{_context(v)}"
    broken = []
    for url in sorted(set(v.links)):
        target = _site_path(site, server, url)
        if target is None:
            continue
        path, fragment = target
        if not site.exists(path):
            broken.append(f"{url}: no file {path}")
        elif fragment and not fragment.startswith(":~:") and path.endswith(".html"):
            ids = site.parsed(path).ids | (set(v.dom_ids) if path == book_page else set())
            if fragment not in ids:
                broken.append(f"{url}: no id {fragment!r} in {path}")
    assert not broken, f"{book_page}: broken internal links:\n  " + "\n  ".join(broken)


@functools.cache
def _allowed():
    return [(re.compile(pattern), reason) for pattern, reason in CONSOLE_ALLOWED]


def test_no_console_errors(visits, book_page):
    page = book_page
    v = visits(page)
    errors = [c for c in v.console if c["type"] == "error" and not any(p.search(c["text"]) for p, _ in _allowed())]
    assert not errors, f"{page}: console errors:\n  " + "\n  ".join(
        f"{c['text']} ({c['url']})" for c in errors) + _context(v)
