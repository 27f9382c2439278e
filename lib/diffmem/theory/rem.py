"""The random energy model (REM): a generic solver from a cumulant function, and Derrida's REM.

Generic REM (THEORY.md section 3). ``e^{alpha N}`` independent "energies" ``N d_mu`` (squared distances in the book)
whose law is summarised by its cumulant function per dimension::

    phi(theta) = (1/N) log E e^{-theta N d}      (phi(0) = 0, phi convex).

The partition function ``Z(theta) = sum_mu e^{-theta N d_mu}`` is dominated by levels at distance
``d = -phi'(theta)``, whose number is ``e^{N Sigma(theta)}`` with the saddle entropy
``Sigma(theta) = alpha + phi(theta) - theta phi'(theta)``.
``Sigma`` decreases from ``alpha`` (``Sigma' = -theta phi'' <= 0``); where it reaches 0, at ``theta*``, the measure
condenses on the few smallest distances::

    (1/N) log Z = alpha + phi(theta)        for theta < theta*,
                = -theta d_min,  d_min = -phi'(theta*)   for theta >= theta*   (quenched, N -> infinity).

Derrida's REM (:class:`DerridaREM`) is the case of Gaussian energies, ``phi(theta) = theta^2 J^2 / 4``.

Every function broadcasts over its array arguments; ``phi`` and ``dphi`` are vectorised callables of ``theta``
(returning arrays broadcastable with `alpha`). Serves the chapters "The random energy model" and "Collapse".
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._checks import check_callable, check_seed, count, nonnegative, positive, real

__all__ = [
    "DerridaREM",
    "condensation_point",
    "find_root",
    "solve_decreasing",
    "minimal_distance",
    "quenched_log_partition",
    "saddle_entropy",
]

# Most energies (levels x instances) that DerridaREM.sample_energies draws in one call: 2^31 float64 = 16 GiB.
_MAX_ENERGIES = 31
# log(theta) search range of the condensation point; beyond it theta* is returned as 0 or inf.
_LOG_THETA_RANGE = (-650.0, 650.0)


def _check_alpha(alpha, name: str = "alpha") -> np.ndarray:
    """``alpha`` as a float64 array; finite and > 0, else ValueError naming it."""
    return positive(alpha, name, f"{name} = log P / N")


def find_root(f, lo, hi, *, xtol: float = 1e-14, maxiter: int = 200):
    """Vectorised bracketed root finding (Illinois regula falsi with a bisection safeguard).

    Each element is solved independently; every iteration evaluates `f` once on the whole array, so a grid of
    problems costs about as many evaluations as one problem (superlinear convergence, ~10-15 evaluations).

    Parameters
    ----------
    f : callable
        Vectorised: ``f(x)`` with ``x`` of the broadcast shape of `lo` and `hi` returns an array of that shape.
    lo, hi : array_like
        A bracket of each root: ``f(lo)`` and ``f(hi)`` of opposite signs (or zero).
    xtol : float
        Stop when the bracket is shorter than ``xtol * (1 + |x|)``.
    maxiter : int

    Returns
    -------
    ndarray
        The roots, shape of ``broadcast(lo, hi)``.

    Raises
    ------
    ValueError
        If some bracket does not change sign.
    """
    a, b = np.broadcast_arrays(np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))
    fa, fb = np.asarray(f(a), dtype=np.float64), np.asarray(f(b), dtype=np.float64)
    shape = np.broadcast_shapes(a.shape, fa.shape, fb.shape)  # f may carry parameters of a larger shape
    a, b, fa, fb = (_full(v, shape) for v in (a, b, fa, fb))
    if np.any(np.sign(fa) * np.sign(fb) > 0):
        raise ValueError("find_root: f(lo) and f(hi) have the same sign for some elements (no bracket)")
    done = (fa == 0) | (fb == 0)
    root = np.where(fa == 0, a, b)
    # widths of the last three brackets: Illinois shrinks a bracket by half within three steps when all is well
    history = [np.abs(b - a)] * 3
    for _ in range(maxiter):
        if done.all():
            break
        with np.errstate(invalid="ignore", divide="ignore"):  # fa == fb only on degenerate brackets: bisect
            c = b - fb * (b - a) / (fb - fa)
        lo_i, hi_i = np.minimum(a, b), np.maximum(a, b)
        # Bisect when the secant point leaves the bracket or the bracket failed to halve in three steps.
        bad = ~np.isfinite(c) | (c <= lo_i) | (c >= hi_i) | (np.abs(b - a) > 0.5 * history[0])
        c = np.where(done, root, np.where(bad, 0.5 * (a + b), c))
        fc = _full(f(c), shape)
        history = [*history[1:], np.abs(b - a)]
        same = np.sign(fc) == np.sign(fb)
        # Illinois: when the new point falls on b's side, a is kept and its value halved to unstick regula falsi.
        new_a, new_fa = np.where(same, a, b), np.where(same, 0.5 * fa, fb)
        live = ~done
        a, fa = np.where(live, new_a, a), np.where(live, new_fa, fa)
        b, fb = np.where(live, c, b), np.where(live, fc, fb)
        now = live & ((fc == 0) | (np.abs(c - a) <= xtol * (1.0 + np.abs(c))))
        root = np.where(now, c, np.where(live, b, root))
        done = done | now
    return root


def solve_decreasing(f, shape, start: float, limits: tuple[float, float]):
    """Root of a function decreasing in its argument, one per element, with the bracket found automatically.

    The bracket ``[-start, start]`` is expanded geometrically (to the `limits` in a few steps) until ``f(lo) > 0``
    and ``f(hi) <= 0``; then :func:`find_root` solves all elements at once.

    Parameters
    ----------
    f : callable
        Vectorised and decreasing in its argument.
    shape : tuple
        Shape of the problem grid.
    start : float
        Half-width of the first bracket.
    limits : (float, float)
        Search range; beyond it a root is reported as infinite.

    Returns
    -------
    ndarray
        The roots; ``+inf`` where ``f`` stays positive up to ``limits[1]``, ``-inf`` where it is already <= 0 at
        ``limits[0]``.
    """
    lo_lim, hi_lim = limits
    lo, hi = np.full(shape, -start), np.full(shape, start)
    f_lo, f_hi = f(lo), f(hi)
    for _ in range(8):  # geometric expansion reaches +-650 in 7 steps
        grow_lo, grow_hi = (f_lo <= 0) & (lo > lo_lim), (f_hi > 0) & (hi < hi_lim)
        if not (grow_lo.any() or grow_hi.any()):
            break
        lo = np.where(grow_lo, np.maximum(2.0 * lo - 4.0, lo_lim), lo)
        hi = np.where(grow_hi, np.minimum(2.0 * hi + 4.0, hi_lim), hi)
        f_lo, f_hi = f(lo), f(hi)
    never, below = f_hi > 0, f_lo <= 0
    ok = ~(never | below)
    out = np.where(never, np.inf, -np.inf)
    if ok.any():
        # elements already settled get the stand-in -u, bracketed by [-1, 1], so that find_root sees a sign change
        root = find_root(lambda u: np.where(ok, f(u), -u), np.where(ok, lo, -1.0), np.where(ok, hi, 1.0))
        out = np.where(ok, root, out)
    return out


def _full(values, shape):
    return np.broadcast_to(np.asarray(values, dtype=np.float64), shape).copy()


def saddle_entropy(theta, alpha, phi, dphi):
    """Saddle entropy ``Sigma(theta) = alpha + phi(theta) - theta phi'(theta)`` (THEORY.md section 3).

    Parameters
    ----------
    theta : array_like
        Inverse temperature in distance units (Boltzmann weight ``e^{-theta N d}``), >= 0.
    alpha : array_like
        ``log(number of levels) / N``.
    phi, dphi : callable
        Cumulant function per dimension and its derivative.

    Returns
    -------
    ndarray
        Broadcast shape of `theta` and `alpha`.

    Raises
    ------
    TypeError, ValueError
        If `theta` is not finite and >= 0, `alpha` not finite and > 0, or `phi`, `dphi` are not callable.
    """
    theta = nonnegative(theta, "theta", "inverse temperature in distance units")
    return _saddle(theta, _check_alpha(alpha), *_check_cumulant(phi, dphi))


def _check_cumulant(phi, dphi):
    return (check_callable(phi, "phi", "the cumulant function phi(theta)"),
            check_callable(dphi, "dphi", "the derivative phi'(theta)"))


def _saddle(theta, alpha, phi, dphi):
    # phi and theta phi' nearly cancel at large theta: combine them before adding alpha
    return alpha + (phi(theta) - theta * dphi(theta))


def condensation_point(alpha, phi, dphi):
    """The condensation point ``theta*``: ``Sigma(theta*) = 0`` (THEORY.md section 3).

    Parameters
    ----------
    alpha : array_like
        Finite and > 0.
    phi, dphi : callable
        Cumulant function and its derivative; ``phi`` convex, so that ``Sigma`` decreases in theta.

    Returns
    -------
    ndarray
        ``theta*``, shape of `alpha` (broadcast with what phi returns); ``inf`` where ``Sigma`` stays positive
        up to ``theta = e^650`` (a REM that never condenses).

    Raises
    ------
    TypeError, ValueError
        If `alpha` is not finite and > 0, or `phi`, `dphi` are not callable.
    """
    alpha = _check_alpha(alpha)
    phi, dphi = _check_cumulant(phi, dphi)

    def sigma(log_theta):
        return _saddle(np.exp(log_theta), alpha, phi, dphi)

    shape = np.broadcast_shapes(alpha.shape, np.shape(phi(np.ones(alpha.shape))))
    # Sigma decreases in log(theta); a REM that is condensed already at theta = e^-650 has theta* = 0
    return np.exp(solve_decreasing(sigma, shape, 2.0, _LOG_THETA_RANGE))


def minimal_distance(alpha, phi, dphi, theta_star=None):
    """``d_min = -phi'(theta*)``: the distance of the lowest levels (THEORY.md section 3).

    Parameters
    ----------
    alpha : array_like
    phi, dphi : callable
    theta_star : array_like, optional
        The condensation point if already known.

    Returns
    -------
    ndarray

    Raises
    ------
    TypeError, ValueError
        Bad `alpha`, `phi`, `dphi` (see :func:`condensation_point`) or `theta_star` (NaN or < 0).
    """
    _check_alpha(alpha)
    phi, dphi = _check_cumulant(phi, dphi)
    ts = condensation_point(alpha, phi, dphi) if theta_star is None else _check_theta_star(theta_star)
    return -dphi(ts)


def _check_theta_star(theta_star):
    return nonnegative(theta_star, "theta_star", "the condensation point", allow_inf=True)


def quenched_log_partition(theta, alpha, phi, dphi, theta_star=None):
    """Quenched ``(1/N) log sum_mu e^{-theta N d_mu}`` of the REM, N -> infinity (THEORY.md section 3).

    Parameters
    ----------
    theta : array_like
        >= 0.
    alpha : array_like
    phi, dphi : callable
    theta_star : array_like, optional
        The condensation point if already known.

    Returns
    -------
    ndarray
        ``alpha + phi(theta)`` for ``theta < theta*``, ``-theta d_min`` above; broadcast shape.

    Raises
    ------
    TypeError, ValueError
        If `theta` is not finite and >= 0, `alpha` not finite and > 0, `phi`, `dphi` not callable, or
        `theta_star` NaN or < 0.
    """
    theta = nonnegative(theta, "theta", "inverse temperature in distance units")
    alpha = _check_alpha(alpha)
    phi, dphi = _check_cumulant(phi, dphi)
    ts = condensation_point(alpha, phi, dphi) if theta_star is None else _check_theta_star(theta_star)
    free = alpha + phi(np.minimum(theta, ts))
    d_min = -dphi(np.where(np.isfinite(ts), ts, 1.0))  # a REM that never condenses has no frozen branch
    frozen = -theta * d_min
    return np.where(theta < ts, free, frozen)


class DerridaREM:
    """Derrida's random energy model: ``e^{alpha N}`` independent Gaussian energies.

    Convention (Derrida 1981): energies ``E ~ N(0, N J^2 / 2)``, Boltzmann weight ``e^{-E / T}``; ``alpha = ln 2``
    gives the ``2^N`` levels of the textbook. Then, per dimension (``e = E / N``),

    * microcanonical entropy ``s(e) = alpha - e^2 / J^2`` for ``|e| <= e_0 = J sqrt(alpha)``;
    * cumulant ``phi(beta) = (1/N) log E e^{-beta E} = beta^2 J^2 / 4``;
    * critical temperature ``T_c = J / (2 sqrt(alpha))`` (``1 / (2 sqrt(ln 2)) = 0.6005`` for ``2^N`` levels and
      ``J = 1``; the often quoted ``1 / sqrt(2 ln 2) = 0.8493`` is the variance-N convention, ``J = sqrt 2``);
    * free energy ``f = -T alpha - J^2 / (4 T)`` above ``T_c``, ``-e_0`` below;
    * in the frozen phase the weights are Poisson-Dirichlet with ``m = T / T_c``: ``E sum w^2 = 1 - T / T_c``.

    Parameters
    ----------
    alpha : float
        ``log(number of levels) / N``; default ``ln 2``.
    J : float
        Energy scale, > 0.

    Serves the chapter "The random energy model".
    """

    def __init__(self, alpha: float = math.log(2.0), J: float = 1.0):
        self.alpha = float(_check_alpha(alpha))
        if isinstance(J, bool) or not isinstance(J, numbers.Real) or not (math.isfinite(J) and J > 0):
            raise ValueError(f"J must be a finite number > 0, got {J!r}")
        self.J = float(J)

    def __repr__(self) -> str:
        return f"DerridaREM(alpha={self.alpha}, J={self.J})"

    @property
    def e0(self) -> float:
        """Ground-state energy per dimension in absolute value, ``J sqrt(alpha)``."""
        return self.J * math.sqrt(self.alpha)

    @property
    def critical_temperature(self) -> float:
        """``T_c = J / (2 sqrt(alpha))``."""
        return self.J / (2.0 * math.sqrt(self.alpha))

    def phi(self, beta):
        """Cumulant ``beta^2 J^2 / 4`` (feed it to the generic solver with ``dphi``)."""
        return 0.25 * self.J**2 * np.asarray(beta, dtype=np.float64) ** 2

    def dphi(self, beta):
        """Derivative of :meth:`phi`: ``beta J^2 / 2``."""
        return 0.5 * self.J**2 * np.asarray(beta, dtype=np.float64)

    def entropy(self, e):
        """Microcanonical entropy per dimension ``s(e) = alpha - e^2 / J^2``; ``-inf`` outside ``|e| <= e_0``.

        Parameters
        ----------
        e : array_like
            Energy per dimension.

        Returns
        -------
        ndarray
            Negative values (``e_0 < |e|`` excluded) are the annealed count: no level is found there.

        Raises
        ------
        TypeError, ValueError
            If `e` is not numeric or contains NaN.
        """
        e = real(e, "e", allow_inf=True)
        s = self.alpha - e**2 / self.J**2
        return np.where(np.abs(e) <= self.e0, s, -np.inf)

    def _check_T(self, T):
        return positive(T, "T", "temperature")

    def free_energy(self, T):
        """Quenched free energy per dimension ``f(T) = -(T/N) log Z``.

        Parameters
        ----------
        T : array_like
            Temperature, > 0.

        Returns
        -------
        ndarray
            ``-T alpha - J^2 / (4T)`` for ``T >= T_c``, ``-e_0`` below.
        """
        T = self._check_T(T)
        return np.where(T >= self.critical_temperature, -T * self.alpha - self.J**2 / (4.0 * T), -self.e0)

    def energy(self, T):
        """Mean energy per dimension: ``-J^2 / (2T)`` above ``T_c``, ``-e_0`` below."""
        T = self._check_T(T)
        return np.where(T >= self.critical_temperature, -self.J**2 / (2.0 * T), -self.e0)

    def canonical_entropy(self, T):
        """Entropy per dimension at temperature T: ``alpha - J^2 / (4 T^2)`` above ``T_c``, 0 below."""
        T = self._check_T(T)
        return np.where(T >= self.critical_temperature, self.alpha - self.J**2 / (4.0 * T**2), 0.0)

    def participation_ratio(self, T):
        """``E sum_i w_i^2``: ``1 - T / T_c`` in the frozen phase, 0 (as N -> infinity) above ``T_c``."""
        T = self._check_T(T)
        return np.clip(1.0 - T / self.critical_temperature, 0.0, None)

    def sample_energies(self, N: int, seed=None, n_samples: int | None = None):
        """Draw the energies of a REM of size N.

        Parameters
        ----------
        N : int
            Dimension; the number of levels is ``2^N`` when ``alpha = ln 2``, else ``round(e^{alpha N})``.
        seed : int, Generator or None
        n_samples : int, optional
            Independent REM instances.

        Returns
        -------
        (n_levels,) or (n_samples, n_levels) ndarray
            Energies ``E`` (not divided by N).

        Raises
        ------
        TypeError, ValueError
            Bad `N`, `n_samples` or `seed`, or more than ``2^31`` energies in all (lower N or n_samples).
        """
        N = count(N, "N")
        n = 1 if n_samples is None else count(n_samples, "n_samples")
        exact = math.isclose(self.alpha, math.log(2.0))
        log_levels = N * math.log(2.0) if exact else self.alpha * N
        if log_levels + math.log(n) > _MAX_ENERGIES * math.log(2.0):
            shown = f"2^{N}" if exact else f"e^(alpha N) = e^{log_levels:.4g}"
            raise ValueError(f"N={N} gives {shown} levels (x n_samples={n}), more than the 2^{_MAX_ENERGIES} energies "
                             "one call may draw; lower N or n_samples")
        levels = 2**N if exact else max(1, round(math.exp(log_levels)))
        rng = np.random.default_rng(check_seed(seed))
        shape = (levels,) if n_samples is None else (n, levels)
        return rng.standard_normal(shape) * (self.J * math.sqrt(N / 2.0))
