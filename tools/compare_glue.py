#!/usr/bin/env python3
"""Compare the glued values of two book builds: same names, identical text, chapter by chapter.

Usage::

    python tools/compare_glue.py BUILD_A BUILD_B

Each BUILD is a build's output folder: the folder that holds ``_build/`` (what ``jupyter-book build . --path-output
DIR`` was given, or the book root), ``_build/`` itself, or its ``jupyter_execute/`` folder. Jupyter Book 1 (MyST-NB)
writes the executed notebooks there, one per chapter (``jupyter_execute/chapters/<name>.ipynb``), and moves the
values glued with ``myst_nb.glue`` out of the notebook into ``<name>.glue.json`` (name -> display output, with the
``scrapbook`` name in its metadata); glued values displayed in place (``display=True``) also stay in the notebook.
Both places are read.

A glued value is compared as the text a page can show: every ``text/*`` representation of its output (``text/plain``
always; ``text/latex``, ``text/markdown``, ``text/html`` when present). Images (the PNG of a glued figure) are not
compared: their bytes carry no number quoted in the prose.

Prints the number of glued values compared per chapter and each difference (chapter, name, both values); exits 0 if
both builds have the same chapters, the same names and identical values, 1 otherwise, and 2 on bad arguments (a
folder without executed notebooks).

``--ignore PATTERN`` (repeatable, shell-style on the glue name, e.g. ``'*_wall'``) leaves out values that are not
meant to repeat, such as the wall-clock timings the chapter "Diffusion with the empirical score" quotes: they are
still required in both builds, only their values are not compared (and are counted as ignored).

Serves issue 7 (reproducibility: two clean builds give identical numbers in the glued values) and ``.ci/run``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from pathlib import Path

#: MyST-NB's prefix on the mime types of outputs glued with ``display=False`` (``myst_nb.ext.glue.GLUE_PREFIX``).
GLUE_PREFIX = "application/papermill.record/"


def executed_folder(build: Path) -> Path:
    """The folder of executed notebooks of a build, given the build's output folder, ``_build`` or itself."""
    for candidate in (build / "_build" / "jupyter_execute", build / "jupyter_execute", build):
        if candidate.is_dir() and (any(candidate.rglob("*.ipynb")) or any(candidate.rglob("*.glue.json"))):
            return candidate
    raise FileNotFoundError(f"no executed notebooks (*.ipynb, *.glue.json) under {build}")


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def output_text(output: dict) -> str:
    """The text representations of one display output, mime prefix removed: ``text/plain`` alone as is, several as
    ``mime: text`` lines in a fixed order."""
    prefix = output.get("metadata", {}).get("scrapbook", {}).get("mime_prefix", "")
    data = {}
    for mime, value in output.get("data", {}).items():
        if prefix and mime.startswith(prefix):
            mime = mime[len(prefix):]
        elif mime.startswith(GLUE_PREFIX):
            mime = mime[len(GLUE_PREFIX):]
        if mime.startswith("text/"):
            data[mime] = _text(value)
    if set(data) <= {"text/plain"}:
        return data.get("text/plain", "")
    return "\n".join(f"{mime}: {data[mime]}" for mime in sorted(data))


def notebook_glue(path: Path) -> dict[str, str]:
    """Glued values left in an executed notebook's outputs (outputs whose metadata carries a ``scrapbook`` name)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None:
                out[name] = output_text(output)
    return out


def build_glue(build: Path) -> dict[str, dict[str, str]]:
    """Every glued value of a build: chapter (path relative to ``jupyter_execute``, no suffix) -> name -> text."""
    root = executed_folder(build)
    chapters: dict[str, dict[str, str]] = {}
    for nb in sorted(root.rglob("*.ipynb")):
        chapters.setdefault(nb.relative_to(root).with_suffix("").as_posix(), {}).update(notebook_glue(nb))
    for glue in sorted(root.rglob("*.glue.json")):
        chapter = glue.relative_to(root).as_posix()[: -len(".glue.json")]
        entries = json.loads(glue.read_text(encoding="utf-8"))
        chapters.setdefault(chapter, {}).update({name: output_text(o) for name, o in entries.items()})
    return chapters


def _show(text: str) -> str:
    return repr(text) if len(text) <= 200 else repr(text[:200]) + f"... ({len(text)} characters)"


def compare(a: dict[str, dict[str, str]], b: dict[str, dict[str, str]], out=None, ignore=()) -> int:
    """Print the per-chapter counts and every difference between two builds' glue (to `out`, standard output by
    default); return the number of differences. Names matching a pattern of `ignore` must be in both builds, but
    their values are not compared."""
    out = sys.stdout if out is None else out
    differences = 0
    for chapter in sorted(set(a) | set(b)):
        if chapter not in a or chapter not in b:
            present, missing = ("A", "B") if chapter in a else ("B", "A")
            n = len((a if chapter in a else b)[chapter])
            print(f"{chapter}: only in build {present} ({n} glued values), missing in build {missing}", file=out)
            differences += 1
            continue
        ga, gb = a[chapter], b[chapter]
        names = sorted(set(ga) | set(gb))
        ignored = [n for n in names if n in ga and n in gb and any(fnmatch.fnmatchcase(n, p) for p in ignore)]
        both = [n for n in names if n in ga and n in gb and n not in ignored]
        diff = []
        for name in names:
            if name not in gb:
                diff.append(f"  {chapter}: {name}: only in build A: {_show(ga[name])}")
            elif name not in ga:
                diff.append(f"  {chapter}: {name}: only in build B: {_show(gb[name])}")
            elif name not in ignored and ga[name] != gb[name]:
                diff.append(f"  {chapter}: {name}: A = {_show(ga[name])}, B = {_show(gb[name])}")
        status = "identical" if not diff else f"{len(diff)} differ"
        extra = f" ({len(ignored)} ignored: {', '.join(ignored)})" if ignored else ""
        print(f"{chapter}: {len(both)} glued values compared, {status}{extra}", file=out)
        for line in diff:
            print(line, file=out)
        differences += len(diff)
    return differences


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build_a", type=Path, help="first build (folder holding _build/, _build/ or jupyter_execute/)")
    parser.add_argument("build_b", type=Path, help="second build")
    parser.add_argument("--ignore", action="append", default=[], metavar="PATTERN",
                        help="do not compare the values of glue names matching this shell-style pattern (repeatable)")
    args = parser.parse_args(argv)
    try:
        a, b = build_glue(args.build_a), build_glue(args.build_b)
    except FileNotFoundError as exc:
        print(f"compare_glue: {exc}", file=sys.stderr)
        return 2
    n_a = sum(map(len, a.values()))
    print(f"build A: {args.build_a} ({n_a} glued values in {len(a)} chapters)")
    print(f"build B: {args.build_b} ({sum(map(len, b.values()))} glued values in {len(b)} chapters)")
    differences = compare(a, b, ignore=args.ignore)
    if differences:
        print(f"{differences} differences: the glued values of the two builds are not identical")
        return 1
    print("the glued values of the two builds are identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
