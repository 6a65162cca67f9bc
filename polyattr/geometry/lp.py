"""Linear programs on HiGHS: Chebyshev centres, facet (irredundant row) detection, facet interior points.

Region enumeration solves many small LPs on the same constraint matrix with different objectives
and bounds, so :class:`WarmPolytopeLP` keeps one ``highspy`` model alive and re-solves it warm
(about 0.2-0.8 ms per LP instead of 1.6-3.6 ms for a fresh ``scipy.optimize.linprog``).
"""

from __future__ import annotations

import numpy as np
import highspy

_INF = highspy.kHighsInf


def _new_quiet_highs() -> highspy.Highs:
    """A silent HiGHS instance.

    HiGHS prints a banner on C-level stdout when the first instance is created, which would
    corrupt ``--json`` output; redirect file descriptor 1 around the construction.
    """
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    return h


def chebyshev_center(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray | None, float]:
    """Centre and radius of the largest ball in {z : A z <= b}; (None, -inf) if infeasible.

    Zero rows are ignored when 0 <= b_i and make the set empty when b_i < 0.  An unbounded set
    returns radius +inf.
    """
    A = np.asarray(A, dtype=float)
    b = np.asarray(b, dtype=float)
    norms = np.linalg.norm(A, axis=1)
    zero = norms == 0
    if np.any(b[zero] < 0):
        return None, -np.inf
    A, b, norms = A[~zero], b[~zero], norms[~zero]
    k = A.shape[1]
    if A.shape[0] == 0:
        return np.zeros(k), np.inf
    from scipy.optimize import linprog  # lazy: scipy.optimize costs ~1 s of import time

    c = np.zeros(k + 1)
    c[-1] = -1.0
    res = linprog(
        c,
        A_ub=np.hstack([A, norms[:, None]]),
        b_ub=b,
        bounds=[(None, None)] * k + [(0, None)],
        method="highs",
    )
    if res.status == 3:
        return None, np.inf
    if res.status != 0:
        return None, -np.inf
    return res.x[:k], float(res.x[-1])


class WarmPolytopeLP:
    """One HiGHS model over the rows ``A z <= b`` (unit-normalised), re-solved with new objectives.

    Variables are z (k of them, free) and a radius r >= 0 that only the Chebyshev problems use
    (its column coefficients are the row norms, 1 after normalisation).
    """

    def __init__(self, A: np.ndarray, b: np.ndarray):
        self.A = np.ascontiguousarray(A, dtype=float)
        self.b = np.ascontiguousarray(b, dtype=float)
        self.m, self.k = self.A.shape
        self.solves = 0
        h = _new_quiet_highs()
        h.setOptionValue("presolve", "off")
        lp = highspy.HighsLp()
        n = self.k + 1
        lp.num_col_ = n
        lp.num_row_ = self.m
        lp.col_cost_ = np.zeros(n)
        lp.col_lower_ = np.r_[np.full(self.k, -_INF), 0.0]
        lp.col_upper_ = np.r_[np.full(self.k, _INF), 0.0]  # radius pinned to 0 unless asked
        lp.row_lower_ = np.full(self.m, -_INF)
        lp.row_upper_ = self.b.copy()
        full = np.hstack([self.A, np.ones((self.m, 1))])
        # column-wise (CSC) dense matrix
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.arange(0, self.m * n + 1, self.m, dtype=np.int32)
        lp.a_matrix_.index_ = np.tile(np.arange(self.m, dtype=np.int32), n)
        lp.a_matrix_.value_ = full.T.ravel()
        h.passModel(lp)
        self.h = h

    def _solve(self, cost: np.ndarray) -> tuple[str, np.ndarray | None, float]:
        h = self.h
        h.changeColsCost(len(cost), np.arange(len(cost), dtype=np.int32), np.asarray(cost, dtype=float))
        h.run()
        self.solves += 1
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            sol = np.array(h.getSolution().col_value)
            return "optimal", sol, float(h.getInfo().objective_function_value)
        if status == highspy.HighsModelStatus.kUnbounded:
            return "unbounded", None, np.inf
        if status in (highspy.HighsModelStatus.kInfeasible,):
            return "infeasible", None, -np.inf
        # kUnboundedOrInfeasible or numerical trouble: resolve from scratch once
        h.clearSolver()
        h.run()
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            sol = np.array(h.getSolution().col_value)
            return "optimal", sol, float(h.getInfo().objective_function_value)
        return "infeasible", None, -np.inf

    def chebyshev(self, equality_row: int | None = None) -> tuple[np.ndarray | None, float]:
        """Largest inscribed ball; with ``equality_row`` the ball lives in that row's hyperplane."""
        h = self.h
        h.changeColBounds(self.k, 0.0, _INF)
        if equality_row is not None:
            # on the hyperplane: row becomes an equality and does not take the radius term
            h.changeCoeff(equality_row, self.k, 0.0)
            h.changeRowBounds(equality_row, self.b[equality_row], self.b[equality_row])
        cost = np.zeros(self.k + 1)
        cost[-1] = -1.0
        status, sol, _ = self._solve(cost)
        if equality_row is not None:
            h.changeCoeff(equality_row, self.k, 1.0)
            h.changeRowBounds(equality_row, -_INF, self.b[equality_row])
        h.changeColBounds(self.k, 0.0, 0.0)
        if status != "optimal":
            return None, (np.inf if status == "unbounded" else -np.inf)
        return sol[: self.k], float(sol[-1])

    def is_facet(self, row: int, tol: float) -> bool:
        """Whether row ``row`` is irredundant: relaxing it lets max a_row.z exceed b_row."""
        h = self.h
        h.changeRowBounds(row, -_INF, self.b[row] + 1.0)
        cost = np.r_[-self.A[row], 0.0]
        status, _, value = self._solve(cost)
        h.changeRowBounds(row, -_INF, self.b[row])
        if status == "unbounded":
            return True
        if status != "optimal":
            return False
        return -value > self.b[row] + tol
