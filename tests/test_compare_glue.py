"""tools/compare_glue.py: the glued values of two builds, compared on tiny synthetic builds."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "compare_glue.py"
PREFIX = "application/papermill.record/"


@pytest.fixture(scope="module")
def compare_glue():
    spec = importlib.util.spec_from_file_location("compare_glue", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def glue_output(name: str, text: str, display: bool) -> dict:
    """An output as ``myst_nb.glue(name, value, display)`` writes it."""
    prefix = "" if display else PREFIX
    return {"output_type": "display_data", "data": {prefix + "text/plain": text},
            "metadata": {"scrapbook": {"name": name, "mime_prefix": prefix}}}


def write_build(root: Path, shown: dict[str, str], hidden: dict[str, str]) -> Path:
    """A build as Jupyter Book 1 leaves it: root/_build/jupyter_execute/chapters/ch.{ipynb,glue.json}.

    `shown` values stay in the notebook (glued with display=True), `hidden` ones only in the glue file, as MyST-NB
    moves them (with the mime prefix already removed).
    """
    folder = root / "_build" / "jupyter_execute" / "chapters"
    folder.mkdir(parents=True)
    outputs = [glue_output(k, v, True) for k, v in shown.items()]
    outputs.append({"output_type": "stream", "name": "stdout", "text": "not glued\n"})
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "source": "glue(...)", "metadata": {}, "execution_count": 1,
                     "outputs": outputs},
                    {"cell_type": "markdown", "source": "text", "metadata": {}}]}
    (folder / "ch.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    glue = {k: {**glue_output(k, v, True), "metadata": {"scrapbook": {"name": k, "mime_prefix": PREFIX}}}
            for k, v in {**shown, **hidden}.items()}
    (folder / "ch.glue.json").write_text(json.dumps(glue), encoding="utf-8")
    return root


SHOWN = {"t_c": "0.4312"}
HIDDEN = {"n_traj": "2000", "err": "3.1e-13"}


def run(module, a: Path, b: Path, capsys) -> tuple[int, str]:
    rc = module.main([str(a), str(b)])
    return rc, capsys.readouterr().out


def test_identical_builds_exit_0_and_count_per_chapter(compare_glue, tmp_path, capsys):
    a = write_build(tmp_path / "a", SHOWN, HIDDEN)
    b = write_build(tmp_path / "b", SHOWN, HIDDEN)
    rc, out = run(compare_glue, a, b, capsys)
    assert rc == 0
    assert "chapters/ch: 3 glued values compared, identical" in out
    # the build folder, _build/ and jupyter_execute/ are all accepted
    rc, _ = run(compare_glue, a / "_build", b / "_build" / "jupyter_execute", capsys)
    assert rc == 0


def test_a_differing_value_exits_1_and_names_it(compare_glue, tmp_path, capsys):
    a = write_build(tmp_path / "a", SHOWN, HIDDEN)
    b = write_build(tmp_path / "b", SHOWN, {**HIDDEN, "err": "3.2e-13"})
    rc, out = run(compare_glue, a, b, capsys)
    assert rc == 1
    assert "chapters/ch: err: A = '3.1e-13', B = '3.2e-13'" in out
    assert "n_traj" not in out


def test_a_value_shown_in_the_notebook_is_compared(compare_glue, tmp_path, capsys):
    a = write_build(tmp_path / "a", SHOWN, HIDDEN)
    b = write_build(tmp_path / "b", {"t_c": "0.4313"}, HIDDEN)
    (b / "_build" / "jupyter_execute" / "chapters" / "ch.glue.json").unlink()  # only the notebook's copy is left
    rc, out = run(compare_glue, a, b, capsys)
    assert rc == 1
    assert "t_c: A = '0.4312', B = '0.4313'" in out
    assert "n_traj: only in build A" in out


def test_a_missing_name_exits_1(compare_glue, tmp_path, capsys):
    a = write_build(tmp_path / "a", SHOWN, HIDDEN)
    b = write_build(tmp_path / "b", SHOWN, {"n_traj": "2000"})
    rc, out = run(compare_glue, a, b, capsys)
    assert rc == 1
    assert "err: only in build A: '3.1e-13'" in out
    rc, out = run(compare_glue, b, a, capsys)
    assert rc == 1 and "err: only in build B" in out


def test_a_missing_chapter_exits_1(compare_glue, tmp_path, capsys):
    a = write_build(tmp_path / "a", SHOWN, HIDDEN)
    b = write_build(tmp_path / "b", SHOWN, HIDDEN)
    (a / "_build" / "jupyter_execute" / "chapters" / "ch.ipynb").rename(
        a / "_build" / "jupyter_execute" / "chapters" / "other.ipynb")
    rc, out = run(compare_glue, a, b, capsys)
    assert rc == 1
    assert "chapters/other: only in build A" in out


def test_a_folder_without_a_build_exits_2(compare_glue, tmp_path, capsys):
    a = write_build(tmp_path / "a", SHOWN, HIDDEN)
    assert compare_glue.main([str(a), str(tmp_path / "empty")]) == 2
    assert "no executed notebooks" in capsys.readouterr().err


def test_text_representations_other_than_plain_are_compared(compare_glue):
    out = {"data": {PREFIX + "text/plain": "x", PREFIX + "text/latex": "$x$", PREFIX + "image/png": "iVBOR"},
           "metadata": {"scrapbook": {"name": "x", "mime_prefix": PREFIX}}}
    assert compare_glue.output_text(out) == "text/latex: $x$\ntext/plain: x"


def test_ignored_names_must_exist_but_their_values_are_not_compared(compare_glue, tmp_path, capsys):
    a = write_build(tmp_path / "a", SHOWN, {**HIDDEN, "es_anc_wall": "0.53"})
    b = write_build(tmp_path / "b", SHOWN, {**HIDDEN, "es_anc_wall": "2.16"})
    rc, out = run(compare_glue, a, b, capsys)
    assert rc == 1 and "es_anc_wall: A = '0.53', B = '2.16'" in out
    assert compare_glue.main([str(a), str(b), "--ignore", "*_wall"]) == 0
    assert "3 glued values compared, identical (1 ignored: es_anc_wall)" in capsys.readouterr().out
    c = write_build(tmp_path / "c", SHOWN, HIDDEN)  # the timing is gone: still a difference
    assert compare_glue.main([str(a), str(c), "--ignore", "*_wall"]) == 1
    assert "es_anc_wall: only in build A" in capsys.readouterr().out
