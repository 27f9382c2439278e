"""The book's skeleton: table of contents, notebooks, citations, execution settings, and the size switch.

These checks keep the conventions of DESIGN.md section 5 ("Notebooks") true without building the book: a chapter
that is missing from the toc, a notebook committed with outputs, an install cell that points at another repository
or a citation key missing from references.bib fails here in milliseconds instead of in a build.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

import diffmem.settings as settings

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"

CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
BIB_KEY = re.compile(r"^\s*@\s*(\w+)\s*\{\s*([^,\s]+)\s*,", re.MULTILINE)
INSTALL_URL = re.compile(r"git\+([^\s\"'@#]+)")
EQ_LABEL = re.compile(r"\$\$\s*\(([\w.:-]+)\)")
EQ_REF = re.compile(r"\{eq\}`([^`]+)`")


def load_yaml(name: str):
    with open(ROOT / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_notebook(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def toc_files(toc: dict) -> list[str]:
    """Every ``file`` entry of a jb-book toc, root first, in order."""
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def resolve(doc: str) -> Path | None:
    """The file a toc entry names (with or without its suffix), or None."""
    path = ROOT / doc
    if path.suffix in (".md", ".ipynb") and path.is_file():
        return path
    for suffix in (".md", ".ipynb"):
        candidate = path.with_name(path.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def chapter_notebooks() -> list[Path]:
    return sorted(p for p in CHAPTERS.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


NOTEBOOKS = chapter_notebooks()
NOTEBOOK_IDS = [p.stem for p in NOTEBOOKS]


@pytest.fixture(scope="module")
def config() -> dict:
    return load_yaml("_config.yml")


@pytest.fixture(scope="module")
def toc() -> dict:
    return load_yaml("_toc.yml")


@pytest.fixture(scope="module")
def repository_url(config) -> str:
    url = config["repository"]["url"]
    assert url.startswith("https://"), f"repository.url must be an https URL, got {url!r}"
    return url.rstrip("/")


# --- table of contents -------------------------------------------------------------------------------------------

def test_there_are_chapters():
    assert NOTEBOOKS, "chapters/ holds no notebook"


def test_toc_lists_only_existing_files(toc):
    assert toc["format"] == "jb-book"
    missing = [doc for doc in toc_files(toc) if resolve(doc) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_toc_has_no_duplicates(toc):
    files = toc_files(toc)
    assert len(files) == len(set(files)), f"duplicate toc entries: {files}"


def test_toc_parts_are_numbered_and_not_empty(toc):
    parts = toc.get("parts", [])
    assert parts, "the book is organized in parts"
    for part in parts:
        assert part.get("caption"), f"a part without caption: {part}"
        assert part.get("numbered") is True, f"part {part.get('caption')!r} is not numbered"
        assert part.get("chapters"), f"part {part.get('caption')!r} is empty (Jupyter Book 1 rejects it)"


def test_every_chapter_notebook_is_in_the_toc(toc):
    listed = {resolve(doc) for doc in toc_files(toc)}
    orphans = [p.relative_to(ROOT).as_posix() for p in NOTEBOOKS if p not in listed]
    assert not orphans, f"notebooks missing from _toc.yml: {orphans}"


# --- notebooks ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_notebook_has_no_outputs(path):
    nb = load_notebook(path)
    dirty = [i for i, c in enumerate(nb["cells"])
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: code cells {dirty} carry outputs or execution counts; strip them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_first_cell_installs_from_the_book_repository(path, repository_url):
    first = load_notebook(path)["cells"][0]
    assert first["cell_type"] == "code", f"{path.name}: the first cell must be the install cell"
    assert "remove-cell" in first.get("metadata", {}).get("tags", []), f"{path.name}: install cell not remove-cell"
    src = cell_source(first)
    assert "import diffmem" in src and "except ImportError" in src, (
        f"{path.name}: the install cell must install diffmem only where it is missing"
    )
    assert "pip install" in src, f"{path.name}: the install cell does not install anything"
    urls = [u.removesuffix(".git").rstrip("/") for u in INSTALL_URL.findall(src)]
    assert urls == [repository_url], (
        f"{path.name}: the install cell must install from repository.url of _config.yml ({repository_url}), "
        f"found {urls}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_second_cell_imports_and_prints_backend_info(path):
    second = load_notebook(path)["cells"][1]
    assert second["cell_type"] == "code", f"{path.name}: the second cell must be the import cell"
    src = cell_source(second)
    assert re.search(r"^import diffmem as dm\s*$", src, re.MULTILINE), f"{path.name}: no `import diffmem as dm`"
    assert re.search(r"print\(.*dm\.backend\.info\(\)", src), f"{path.name}: does not print dm.backend.info()"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_notebook_has_a_kernelspec(path):
    kernelspec = load_notebook(path)["metadata"].get("kernelspec", {})
    assert kernelspec.get("name") == "python3" and kernelspec.get("language", "python") == "python"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_equation_references_resolve(path):
    text = "\n".join(cell_source(c) for c in load_notebook(path)["cells"] if c["cell_type"] == "markdown")
    labels = EQ_LABEL.findall(text)
    assert len(labels) == len(set(labels)), f"{path.name}: duplicate equation labels"
    dangling = sorted(set(EQ_REF.findall(text)) - set(labels))
    assert not dangling, f"{path.name}: {{eq}} references to undefined labels {dangling}"


# --- citations ---------------------------------------------------------------------------------------------------

def bib_keys() -> list[str]:
    return [key for _kind, key in BIB_KEY.findall((ROOT / "references.bib").read_text(encoding="utf-8"))]


def cited_keys() -> dict[str, set[str]]:
    """{document: cited keys} for intro.md and every chapter's markdown cells."""
    texts = {"intro.md": (ROOT / "intro.md").read_text(encoding="utf-8")}
    for path in NOTEBOOKS:
        cells = load_notebook(path)["cells"]
        texts[path.name] = "\n".join(cell_source(c) for c in cells if c["cell_type"] == "markdown")
    return {doc: {k.strip() for group in CITE_ROLE.findall(text) for k in group.split(",")}
            for doc, text in texts.items()}


def test_bib_keys_are_unique():
    keys = bib_keys()
    assert keys, "references.bib is empty"
    assert len(keys) == len(set(keys)), "duplicate keys in references.bib"


def test_every_cited_key_is_in_references_bib():
    keys = set(bib_keys())
    missing = {doc: sorted(cited - keys) for doc, cited in cited_keys().items() if cited - keys}
    assert not missing, f"citation keys missing from references.bib: {missing}"


def test_the_paper_is_cited_in_the_introduction():
    assert "achilli2025memorization" in cited_keys()["intro.md"]


def test_intro_holds_the_bibliography():
    assert "```{bibliography}" in (ROOT / "intro.md").read_text(encoding="utf-8")


# --- configuration -----------------------------------------------------------------------------------------------

def test_execution_is_forced_with_a_timeout_and_errors_raise(config):
    execute = config["execute"]
    assert execute["execute_notebooks"] == "force"
    assert isinstance(execute.get("timeout"), int) and execute["timeout"] > 0
    assert execute.get("allow_errors", False) is False
    assert config["sphinx"]["config"]["nb_execution_raise_on_error"] is True


def test_bibliography_and_numbering_are_configured(config):
    assert config["bibtex_bibfiles"] == ["references.bib"]
    assert (ROOT / "references.bib").is_file()
    sphinx = config["sphinx"]["config"]
    assert sphinx["numfig"] is True and sphinx["math_numfig"] is True
    extensions = set(config["parse"]["myst_enable_extensions"])
    assert {"dollarmath", "amsmath", "colon_fence"} <= extensions


def test_launch_buttons_use_the_repository(config, repository_url):
    assert config["repository"].get("branch")
    buttons = config["launch_buttons"]
    assert buttons.get("binderhub_url") and buttons.get("colab_url") and buttons.get("thebe") is True


def test_non_book_paths_are_excluded(config):
    assert config.get("only_build_toc_files") is True
    excluded = set(config["exclude_patterns"])
    assert {"_build", "lib", "tests", "benchmarks", ".ci", "README.md"} <= excluded


# --- the size switch (DIFFMEM_SCALE) -----------------------------------------------------------------------------

def test_scale_defaults_to_book(monkeypatch):
    monkeypatch.delenv("DIFFMEM_SCALE", raising=False)
    assert settings.scale() == "book"
    monkeypatch.setenv("DIFFMEM_SCALE", "")
    assert settings.scale() == "book"


@pytest.mark.parametrize(("raw", "expected"), [("book", "book"), ("full", "full"), (" FULL ", "full")])
def test_scale_reads_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("DIFFMEM_SCALE", raw)
    assert settings.scale() == expected


@pytest.mark.parametrize("raw", ["small", "gpu", "1"])
def test_scale_rejects_unknown_values(monkeypatch, raw):
    monkeypatch.setenv("DIFFMEM_SCALE", raw)
    with pytest.raises(ValueError, match="DIFFMEM_SCALE"):
        settings.scale()


def test_pick_follows_the_scale(monkeypatch):
    monkeypatch.setenv("DIFFMEM_SCALE", "book")
    assert settings.pick(book=(4, 8), full=(64,)) == (4, 8)
    monkeypatch.setenv("DIFFMEM_SCALE", "full")
    assert settings.pick(book=(4, 8), full=(64,)) == (64,)
    monkeypatch.setenv("DIFFMEM_SCALE", "huge")
    with pytest.raises(ValueError):
        settings.pick(book=1, full=2)


def test_front_end_assets_are_pinned_and_served_by_the_site():
    # issue "offline-capable site": exact versions, a lock file, and config that never points at a CDN
    package = json.loads((ROOT / "package.json").read_text())
    for name, version in package["dependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} must be pinned to an exact version, got {version}"
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert set(lock["packages"][""]["dependencies"]) == set(package["dependencies"])
    cfg = load_yaml("_config.yml")
    sphinx = cfg["sphinx"]["config"]
    assert "://" not in sphinx["mathjax_path"]
    assert sphinx["nb_ipywidgets_js"] and not any("://" in url for url in sphinx["nb_ipywidgets_js"])
    assert sphinx["html_extra_path"] == ["_offline"]
    assert cfg["sphinx"]["local_extensions"] == {"offline_assets": "_ext/"}
    ignored = (ROOT / ".gitignore").read_text().split()
    assert {"node_modules/", "_offline/"} <= set(ignored)
    assert {"node_modules", "_offline", "_ext"} <= set(cfg["exclude_patterns"])
