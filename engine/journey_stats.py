"""Deterministic assignment (A/B splits, holdouts) and the uplift of a journey.

A participant's split branch and a partner's holdout membership are drawn from a SHA-256
hash of stable keys, never from :func:`hash` (salted per process) or a random generator:
the same participant lands in the same branch on every worker, every run, every replay.

>>> split_branch("journey:3:participant:17", 5, [(11, 50), (12, 50)])
11
>>> in_holdout(3, 17, 10), in_holdout(3, 17, 0), in_holdout(3, 17, 100)
(False, False, True)

:func:`uplift` compares the conversion rate of the treated participants with the holdout
(who received nothing): the difference, its 95% confidence interval (normal approximation,
unpooled standard error) and a two-proportion z-test (pooled standard error).

>>> u = uplift(1000, 120, 1000, 90)
>>> round(u.uplift, 4), round(u.ci_low, 4), round(u.ci_high, 4), round(u.p_value, 3)
(0.03, 0.0032, 0.0568, 0.029)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass

_Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal distribution
_SCALE = 10**6


def _unit(*parts: object) -> float:
    """A number in [0, 1) drawn from the SHA-256 hash of ``parts``."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") % _SCALE / _SCALE


def split_branch(
    participant_key: str, parent_id: int | None, branches: Iterable[tuple[int, float]]
) -> int:
    """The step id of the A/B branch ``participant_key`` takes after ``parent_id``.

    ``branches`` are ``(step_id, percent)`` pairs; their order does not matter. Shares
    that do not sum to 100 are taken relative to their sum; if none is positive, every
    branch gets an equal share.
    """
    ordered = sorted((int(step_id), max(float(pct), 0.0)) for step_id, pct in branches)
    if not ordered:
        raise ValueError("split_branch needs at least one branch")
    total = sum(pct for _step, pct in ordered)
    if total <= 0:
        ordered = [(step, 1.0) for step, _pct in ordered]
        total = float(len(ordered))
    point = _unit("split", participant_key, parent_id) * total
    for step, pct in ordered:
        if point < pct:
            return step
        point -= pct
    return ordered[-1][0]  # only reachable through rounding


def in_holdout(journey_id: int, partner_id: int, percent: float) -> bool:
    """Whether the partner is held out of the journey (enters it but receives nothing)."""
    if not percent or percent <= 0:
        return False
    return _unit("holdout", journey_id, partner_id) * 100 < percent


@dataclass(frozen=True)
class Uplift:
    """Treatment versus holdout. Rates are fractions (0.12 = 12%)."""

    rate_treat: float
    rate_hold: float
    uplift: float  # rate_treat - rate_hold
    ci_low: float  # 95% confidence interval of the uplift
    ci_high: float
    z: float  # two-proportion z statistic (pooled); 0 when it is undefined
    p_value: float  # two-sided; 1 when there is nothing to test

    @property
    def significant(self) -> bool:
        """The 95% interval excludes zero."""
        return self.ci_low > 0 or self.ci_high < 0


def uplift(treat_n: int, treat_conv: int, hold_n: int, hold_conv: int) -> Uplift:
    """Compare conversions of the treated participants with those of the holdout.

    With an empty group there is nothing to compare: its rate is 0, the uplift 0, the
    interval the whole possible range [-1, 1] and the p-value 1 (no division by zero).
    """
    for n, conv in ((treat_n, treat_conv), (hold_n, hold_conv)):
        if n < 0 or conv < 0 or conv > n:
            raise ValueError(f"{conv} conversions out of {n} participants is not a proportion")
    p1 = treat_conv / treat_n if treat_n else 0.0
    p2 = hold_conv / hold_n if hold_n else 0.0
    diff = p1 - p2
    if not treat_n or not hold_n:
        return Uplift(p1, p2, 0.0, -1.0, 1.0, 0.0, 1.0)
    se = math.sqrt(p1 * (1 - p1) / treat_n + p2 * (1 - p2) / hold_n)
    pooled = (treat_conv + hold_conv) / (treat_n + hold_n)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / treat_n + 1 / hold_n))
    z = diff / se_pooled if se_pooled else 0.0
    p_value = math.erfc(abs(z) / math.sqrt(2)) if se_pooled else 1.0
    return Uplift(p1, p2, diff, diff - _Z95 * se, diff + _Z95 * se, z, p_value)
