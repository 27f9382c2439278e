"""The size switch of the book: ``DIFFMEM_SCALE=book|full``.

Every chapter takes its sizes (dimensions, numbers of samples and trajectories) from one switch, so that the same
notebook runs in a minute or two on 2 CPU cores (``book``, the default, used to build the online book) or at the
sizes of the paper's figures on a GPU (``full``)::

    import diffmem as dm
    import diffmem.settings

    n_traj = dm.settings.pick(book=2_000, full=50_000)

Serves every chapter (DESIGN.md section 5, "Notebooks").
"""

from __future__ import annotations

import os

__all__ = ["DEFAULT_SCALE", "ENV_VAR", "SCALES", "pick", "scale"]

#: Values accepted by ``DIFFMEM_SCALE``.
SCALES = ("book", "full")
#: The scale used when ``DIFFMEM_SCALE`` is unset or empty.
DEFAULT_SCALE = "book"
#: Name of the environment variable read by :func:`scale`.
ENV_VAR = "DIFFMEM_SCALE"


def scale() -> str:
    """The size scale in force, read from ``DIFFMEM_SCALE`` at each call.

    Returns
    -------
    str
        ``"book"`` (default: a minute or two per chapter on 2 CPU cores) or ``"full"`` (paper sizes, for a GPU).

    Raises
    ------
    ValueError
        If ``DIFFMEM_SCALE`` is set to anything else than ``book`` or ``full`` (case and surrounding blanks are
        ignored).
    """
    raw = os.environ.get(ENV_VAR, "")
    value = raw.strip().lower() or DEFAULT_SCALE
    if value not in SCALES:
        raise ValueError(f"{ENV_VAR} must be one of {SCALES} (or unset for {DEFAULT_SCALE!r}), got {raw!r}")
    return value


def pick(*, book, full):
    """The value for the scale in force: `book` under ``DIFFMEM_SCALE=book``, `full` under ``full``.

    Parameters
    ----------
    book, full : object
        Values for the two scales (keyword-only, so that a call reads as a small table).

    Returns
    -------
    object
        One of `book` or `full`, unchanged.

    Raises
    ------
    ValueError
        If ``DIFFMEM_SCALE`` holds an unknown value (see :func:`scale`).
    """
    return full if scale() == "full" else book
