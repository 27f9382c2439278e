"""Serve the book's front-end assets from the site itself, so that a built book reads without any network.

What: before an HTML build, ``npm ci`` installs the packages pinned in ``package.json`` / ``package-lock.json``
(MathJax 3, require.js, ``@jupyter-widgets/html-manager``) and the files the pages load are copied into
``_offline/_static/vendor/``. ``_config.yml`` serves ``_offline`` with ``html_extra_path`` (Sphinx copies its
contents to the site root, so they land in ``_build/html/_static/vendor/``, next to the theme's vendored Font
Awesome) and points ``mathjax_path`` and ``nb_ipywidgets_js`` there. Sphinx reads those paths relative to
``_static/`` and writes them relative to each page, so they work from ``chapters/*.html`` as from ``index.html``,
over HTTP and from disk.

Why: by default MathJax, require.js and the widget manager come from CDNs, so a reader without network (a copy of
``_build/html`` opened from disk, a course machine) gets raw TeX and dead widgets. Not ``html_static_path``:
Jupyter Book 1 adds every .js and .css file of those folders to every page.

While writing each page (``html-page-context``) it also

- drops the Font Awesome 4.4 stylesheet that matplotlib's JavaScript player (the kernel-free explorers of
  ``diffmem.widgets``) links from a CDN: the theme's local Font Awesome 6 draws the same ``fa fa-*`` icons (the
  notebooks keep the link, for Jupyter front ends);
- on pages with widgets, tells require.js where the widget manager lives (else it looks for its fonts under the
  page's folder) and gives MathJax 3 the ``MathJax.Hub.Queue`` that ipywidgets 8 calls to typeset labels;
- keeps one copy of each inline script: Sphinx 7 lists those added after the builder starts twice, and the second
  ``const THEBE_JS_URL`` of sphinx-thebe throws a SyntaxError on every page.

``npm ci`` runs only when ``node_modules/`` is missing or older than ``package-lock.json``; ``node_modules/`` and
``_offline/`` are build products (git-ignored, excluded from the sources). An HTML build needs Node.js with npm on
PATH and, for its first ``npm ci``, the npm registry; without npm it stops with an error that says so.
"""

from __future__ import annotations

import json
import posixpath
import re
import shutil
import subprocess
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: The ``html_extra_path`` folder, relative to the book root; ``_static/vendor/`` in it becomes the site's.
SERVED = "_offline"
NPM_CI = ["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
#: The stylesheet that matplotlib's HTMLWriter writes before its player (matplotlib/_animation_data.py).
CDN_FONT_AWESOME = re.compile(
    r'<link rel="stylesheet"\s+href="https://maxcdn\.bootstrapcdn\.com/font-awesome/[^"]*">\s*'
)
#: Before require.js and embed-amd.js: the AMD module id embed-amd.js derives its asset URLs from, mapped to its
#: folder; a MathJax 2 style Hub.Queue (ipywidgets 8) on top of MathJax 3, once the deferred MathJax has run.
WIDGETS_SETUP = """var require = {paths: {"@jupyter-widgets/html-manager/dist": new URL(%s, document.baseURI).href}};
window.addEventListener("DOMContentLoaded", function () {
  if (window.MathJax && MathJax.startup && !MathJax.Hub) MathJax.Hub = {Queue: function (job) {
    MathJax.startup.promise.then(function () { return MathJax.typesetPromise([job[2]]); });
  }};
});"""


def _npm_ci(root: Path) -> None:
    """Run ``npm ci`` in `root` unless node_modules/ is at least as new as package-lock.json."""
    stamp = root / "node_modules" / ".package-lock.json"  # npm writes it at the end of every install
    if stamp.is_file() and stamp.stat().st_mtime >= (root / "package-lock.json").stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise ExtensionError(
            "offline_assets: npm is not on PATH. The book serves MathJax, require.js and the widget manager itself "
            "and installs them from package-lock.json with `npm ci`: install Node.js (18 or newer, with npm) and "
            "build again."
        )
    logger.info("offline_assets: npm ci (node_modules/ is missing or older than package-lock.json)")
    done = subprocess.run([npm, *NPM_CI], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ExtensionError(f"offline_assets: `npm {' '.join(NPM_CI)}` failed in {root}:\n{done.stderr}")
    stamp.touch()


def _copy(modules: Path, vendor: Path, mathjax_entry: str) -> None:
    """Copy what the pages load from `modules` (node_modules/) into `vendor`, replacing it."""
    shutil.rmtree(vendor, ignore_errors=True)
    # MathJax loads its TeX extensions, fonts and menu relative to its own script: es5/ goes whole, except the
    # combined components that mathjax_path does not name (tex-chtml.js, tex-mml-svg.js, ...: 13 MB of alternatives).
    es5 = modules / "mathjax" / "es5"
    unused = {p.name for p in es5.glob("*.js")} - {mathjax_entry, "core.js", "loader.js", "startup.js"}
    shutil.copytree(es5, vendor / "mathjax", ignore=lambda folder, names: unused if Path(folder) == es5 else ())
    shutil.copy2(modules / "mathjax" / "LICENSE", vendor / "mathjax")
    (vendor / "requirejs").mkdir()
    shutil.copy2(modules / "requirejs" / "require.js", vendor / "requirejs")  # MIT, its header says so
    # embed-amd.js loads its Font Awesome files from its own folder; the rest of dist/ is for other loaders.
    shutil.copytree(modules / "@jupyter-widgets" / "html-manager" / "dist", vendor / "html-manager",
                    ignore=shutil.ignore_patterns("*.map", "embed.js", "libembed-amd.js"))


def install_assets(app: Sphinx) -> None:
    """builder-inited: fill ``_offline/_static/vendor/`` for HTML builders; check that the configured files exist."""
    if app.builder.format != "html":
        return
    root = Path(app.confdir)
    _npm_ci(root)
    static = root / SERVED / "_static"
    _copy(root / "node_modules", static / "vendor", posixpath.basename(app.config.mathjax_path))
    wanted = [app.config.mathjax_path, *getattr(app.config, "nb_ipywidgets_js", {})]
    missing = [url for url in wanted if "://" not in url and not (static / url).is_file()]
    if missing:
        raise ExtensionError(f"offline_assets: mathjax_path / nb_ipywidgets_js name {missing}, not in {static}")


def make_served_folder(app: Sphinx, config) -> None:
    """config-inited: let Sphinx's check of html_extra_path (it runs next) find the folder on a fresh clone."""
    Path(app.confdir, SERVED).mkdir(exist_ok=True)


def fix_page(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """html-page-context, after myst-nb's: see the module docstring."""
    if "body" in context:
        context["body"] = CDN_FONT_AWESOME.sub("", context["body"])
    scripts = context.get("script_files", [])
    manager = [js.filename for js in scripts if str(getattr(js, "filename", "")).endswith("/embed-amd.js")]
    if manager:
        folder = context["pathto"](posixpath.dirname(manager[0]), resource=True)
        app.builder.add_js_file(None, body=WIDGETS_SETUP % json.dumps(folder), priority=499)
    kept, seen = [], set()
    for js in scripts:
        # an inline script comes once with filename None and once with '': compare priority and attributes (body)
        key = None if getattr(js, "filename", True) else (js.priority, tuple(sorted(js.attributes.items())))
        if key is None or key not in seen:
            kept.append(js)
            seen.add(key)
    scripts[:] = kept


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", make_served_folder, priority=100)  # before Sphinx's check (priority 800)
    app.connect("builder-inited", install_assets)
    app.connect("html-page-context", fix_page, priority=600)  # after myst-nb adds the widget scripts (500)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
