"""The statistics behind every verdict: Welch's t on a difference of means over seeds.

One claim compares two samples (one value per seed and side) against a boundary: a claimed side
("a is less than b by at least δ", "the ratio a/b is at least r", "a equals b within δ").
Ratios are tested on log values, so that the boundary log r is a difference too.

    estimate = mean(a) - mean(b)                 (of log values for ratio claims)
    se       = sqrt(var(a)/n_a + var(b)/n_b)     (unequal variances)
    df       = Welch–Satterthwaite
    CI       = estimate ± t(1 - level/2, df) · se

Two one-sided p-values are computed against the boundary: p_holds (the effect is on the claimed
side, beyond the margin) and p_refutes (it is on the other side). The claim's p is
min(1, 2·min(p_holds, p_refutes)), so "p < a" is exactly "the (1 - a) CI lies entirely on one side
of the boundary" (entirely inside or entirely outside the band, for an equality claim). Holm's
step-down correction multiplies a claim's p by its factor c >= 1 (`holm_factors`); a claim is
resolved when c·p < α, which is exactly "the (1 - α/c) CI excludes the boundary": that interval is
the one a verdict prints as the one its decision used.

A side without seed-to-seed variation (sd below 1e-9 of its values' scale) is no proof that it has
no noise: a side whose seeds all diverged is the constant 1.0 under `diverged: worst`, whatever
its divergence rate. Such a comparison must also pass an exact permutation test, valid whatever
the shape of the two sides when their runs are exchangeable (`permutation_p`); it cannot reach
p < 0.05 below 4 vs 4 seeds. With no variation on either side, nothing is tested.

Power is that of this very procedure (Welch's t and the decision above), estimated by simulation
with a fixed seed from the sufficient statistics (the mean difference is normal, each variance a
scaled chi-square): the pooled-t formula overstates it by about 11 points at 3 vs 3 seeds (78%
against 67% measured for an effect of 3 standard deviations).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special

ALPHA = 0.05  # family-wise error rate of one experiment's claims (two-sided; 2.5% per wrong side)
POWER = 0.80  # the power "seeds needed" plans for
POWER_DRAWS = 4000  # simulated experiments per power estimate (±0.7 points at 80%)
MAX_SEEDS = 1000  # "seeds needed" searches up to this many per arm, then says "more than"
CONSTANT = 1e-9  # a side whose sd is below this fraction of max(|mean|, 1) has no variation
PERMUTATIONS = 20000  # random splits of the exact test when there are more than this many

SIDES = ("less", "greater", "inside", "outside")


@dataclass(frozen=True)
class Test:
    """Welch's t of a - b against a boundary, before any multiple-testing correction."""

    estimate: float  # mean(a) - mean(b); log-ratio for ratio claims
    se: float
    df: float
    p: float  # two-sided against the boundary: < a iff the (1 - a) CI excludes it
    supports_claim: bool  # the evidence is on the claimed side (p_holds < p_refutes)
    effect_size: float  # Cohen's d of the difference from the boundary (pooled sd)
    sd_a: float
    sd_b: float
    p_welch: float = math.nan  # Welch's own p; p is the larger of it and p_exact
    p_exact: float | None = None  # the permutation test's, when a side has no variation

    def interval(self, level: float) -> tuple[float, float]:
        """The `level` confidence interval of the estimate (Welch's t)."""
        half = float(special.stdtrit(self.df, 1 - (1 - level) / 2)) * self.se
        return self.estimate - half, self.estimate + half


def no_variation(x: np.ndarray) -> bool:
    """True when the values are all the same up to rounding (relative to their scale): float sums
    leave variances like 2.9e-34 where the values are equal."""
    return len(x) > 0 and float(np.std(x)) <= CONSTANT * max(float(np.max(np.abs(x))), 1.0)


def one_sided(est, se, df, claimed: str, low: float, high: float = math.nan):
    """(p_holds, p_refutes): the one-sided p-values that the difference is on the claimed side of
    the boundary / on the other side. Works on arrays (the power simulation uses it)."""
    below = lambda bound: special.stdtr(df, (est - bound) / se)  # small when surely below bound
    above = lambda bound: special.stdtr(df, (bound - est) / se)  # small when surely above bound
    return _geometry(below, above, est, claimed, low, high)


def _geometry(below, above, est, claimed: str, low: float, high: float):
    """(p_holds, p_refutes) from one-sided p functions below(bound), above(bound)."""
    if claimed == "less":
        return below(low), above(low)
    if claimed == "greater":
        return above(low), below(low)
    upper_half = est > (low + high) / 2
    p_in = np.maximum(below(high), above(low))  # equivalence (TOST): past neither edge
    p_out = np.where(upper_half, above(high), below(low))  # past the nearer edge
    return (p_in, p_out) if claimed == "inside" else (p_out, p_in)


def welch(a: np.ndarray, b: np.ndarray, claimed: str, low: float, high: float = math.nan) -> Test | None:
    """Test the mean difference of a and b. `claimed` is the side the claim says the difference
    is on: 'less' (below `low`), 'greater' (above `low`), 'inside' (between `low` and `high`),
    'outside' (not between). None when the noise cannot be estimated: fewer than 2 values on a
    side, or no variation on either side. One side without variation: p is the larger of Welch's
    and the exact permutation test's (module docstring)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if claimed not in SIDES:
        raise ValueError(f"claimed side {claimed!r}; valid: {', '.join(SIDES)}")
    if len(a) < 2 or len(b) < 2:
        return None
    flat_a, flat_b = no_variation(a), no_variation(b)
    if flat_a and flat_b:
        return None
    va, vb = (0.0 if flat_a else a.var(ddof=1)), (0.0 if flat_b else b.var(ddof=1))
    se2 = va / len(a) + vb / len(b)
    se = math.sqrt(se2)
    df = se2**2 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1))
    est = float(a.mean() - b.mean())
    p_holds, p_refutes = (float(p) for p in one_sided(est, se, df, claimed, low, high))
    p_welch = min(1.0, 2 * min(p_holds, p_refutes))
    p_exact = permutation_p(a, b, claimed, low, high) if flat_a or flat_b else None
    boundary = low if claimed in ("less", "greater") else (high if est > (low + high) / 2 else low)
    pooled = math.sqrt((va + vb) / 2)
    return Test(
        estimate=est,
        se=se,
        df=float(df),
        p=max(p_welch, p_exact or 0.0),
        supports_claim=p_holds < p_refutes,
        effect_size=(est - boundary) / pooled,
        sd_a=math.sqrt(va),
        sd_b=math.sqrt(vb),
        p_welch=p_welch,
        p_exact=p_exact,
    )


def permutation_p(a: np.ndarray, b: np.ndarray, claimed: str, low: float, high: float = math.nan) -> float:
    """The exact permutation test of the same hypotheses as `welch` (a shifted by each bound, then
    every split of the pooled values into sides of the same sizes; PERMUTATIONS random splits, with
    the +1 that keeps it valid, when there are more). Two-sided as Welch's p: 2·min(p_holds, p_refutes)."""
    n = len(a)
    members, plus = _splits(n, n + len(b))

    def tail(bound: float, sign: float) -> float:
        x = np.concatenate([a - bound, b])
        diff = members @ x / n - (~members) @ x / len(b)
        observed = x[:n].mean() - x[n:].mean()
        tol = 1e-12 * max(1.0, float(np.abs(x).max()))
        hits = int(np.sum(sign * diff <= sign * observed + tol))
        return (hits + plus) / (len(diff) + plus)

    est = float(a.mean() - b.mean())
    p_holds, p_refutes = _geometry(lambda x: tail(x, 1.0), lambda x: tail(x, -1.0), est, claimed, low, high)
    return float(min(1.0, 2 * min(p_holds, p_refutes)))


@functools.lru_cache(maxsize=32)
def _splits(n: int, pooled_n: int) -> tuple[np.ndarray, int]:
    """(rows of which pooled positions side a takes, the +1 of a random sample): every split when
    there are at most PERMUTATIONS, else that many random ones (fixed seed)."""
    if math.comb(pooled_n, n) <= PERMUTATIONS:
        members = np.zeros((math.comb(pooled_n, n), pooled_n), bool)
        for row, idx in enumerate(itertools.combinations(range(pooled_n), n)):
            members[row, list(idx)] = True
        return members, 0
    order = np.argsort(np.random.default_rng(0).random((PERMUTATIONS, pooled_n)), axis=1)
    return order < n, 1  # a random n of the pooled positions


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given."""
    return [min(1.0, c * p) for c, p in zip(holm_factors(p_values), p_values)]


def holm_factors(p_values: list[float]) -> list[float]:
    """Each p-value's effective Holm factor c (adjusted p = min(1, c·p)): the step-down multiplier
    m - rank, or the larger one an earlier (smaller) p-value imposes through the running maximum."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    factors, running, running_c = [1.0] * m, 0.0, 1.0
    for rank, i in enumerate(order):
        c = float(m - rank)
        if c * p_values[i] >= running:
            running, running_c = c * p_values[i], c
        else:  # an earlier claim's adjusted p carries over: the factor that reaches it
            running_c = running / p_values[i]
        factors[i] = running_c
    return factors


def power(
    delta: float,
    sd_a: float,
    sd_b: float,
    n: int,
    alpha: float = ALPHA,
    claimed: str = "less",
    low: float = 0.0,
    high: float = math.nan,
    seed: int = 0,
) -> float:
    """Probability that the engine resolves a true difference `delta` (a - b) with the outcome
    its position implies (held or refuted), with n seeds per arm, these standard deviations and
    the level `alpha`. Simulated (POWER_DRAWS experiments, fixed seed), so the same inputs give the
    same number; for 'inside' both edges of the band count (TOST)."""
    if n < 2:
        return 0.0
    rng = np.random.default_rng(seed)
    est = delta + rng.standard_normal(POWER_DRAWS) * math.sqrt((sd_a**2 + sd_b**2) / n)
    va = sd_a**2 * rng.chisquare(n - 1, POWER_DRAWS) / (n - 1) / n
    vb = sd_b**2 * rng.chisquare(n - 1, POWER_DRAWS) / (n - 1) / n
    se = np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (n - 1) + vb**2 / (n - 1))
    # Resolved iff the (1 - alpha) interval est ± crit·se clears the boundary on delta's side.
    half = _critical(df, alpha) * se
    lo_end, hi_end = est - half, est + half
    if claimed in ("inside", "outside") and low < delta < high:
        right = (lo_end > low) & (hi_end < high)  # inside the band: both edges (TOST)
    elif delta > (low if claimed in ("less", "greater") else high):
        right = lo_end > (low if claimed in ("less", "greater") else high)
    else:
        right = hi_end < low
    return float(np.mean(right))


def _critical(df: np.ndarray, alpha: float) -> np.ndarray:
    """t(1 - alpha/2, df) for many df at once: exact on a grid of 1/df (where it is smooth),
    linear in between (within 0.2% of scipy's for df >= 1)."""
    inv = 1 / np.asarray(df, float)
    grid = np.linspace(inv.min(), inv.max(), 64) if inv.max() > inv.min() else inv[:1]
    return np.interp(inv, grid, special.stdtrit(1 / grid, 1 - alpha / 2))


def distance(delta: float, claimed: str, low: float, high: float = math.nan) -> float:
    """How far a true difference lies from the nearest boundary (what makes it resolvable)."""
    edges = [low] if claimed in ("less", "greater") else [low, high]
    return min(abs(delta - e) for e in edges)


def seeds_needed(
    delta: float,
    sd_a: float,
    sd_b: float,
    alpha: float = ALPHA,
    target: float = POWER,
    claimed: str = "less",
    low: float = 0.0,
    high: float = math.nan,
    cap: int = MAX_SEEDS,
) -> int | None:
    """The fewest seeds per arm (2 .. cap) at which `power` reaches `target`; None when the true
    difference sits on the boundary or more than `cap` would be needed (say "more than cap")."""
    if not math.isfinite(delta) or distance(delta, claimed, low, high) == 0 or (sd_a == 0 and sd_b == 0):
        return None
    enough = lambda n: power(delta, sd_a, sd_b, n, alpha, claimed, low, high) >= target
    lo, hi = 2, 2
    while not enough(hi):  # exponential search, then bisection
        if hi >= cap:
            return None
        lo, hi = hi + 1, min(2 * hi, cap)
    while lo < hi:
        mid = (lo + hi) // 2
        if enough(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi
