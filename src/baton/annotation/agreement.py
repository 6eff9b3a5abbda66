"""Inter-annotator agreement: Cohen's kappa, Fleiss' kappa, Krippendorff's alpha (nominal).

Pure functions over plain Python values, so that the dashboard, the export and the tests use the
same code. Categories may be any hashable values (the app uses 0 and 1). A statistic that is
undefined for its data (every rating the same category, too few pairable ratings) is ``None``.

* Cohen's kappa (two raters, the same items): ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_o`` the
  share of items both raters put in the same category and ``p_e = sum_c p_A(c) p_B(c)`` the
  agreement expected from each rater's own category shares.
* Fleiss' kappa (every item rated by the same number ``n`` of raters, not necessarily the same
  people): with ``n_ic`` the raters who put item ``i`` in category ``c``,
  ``P_i = (sum_c n_ic^2 - n) / (n (n - 1))``, ``P = mean_i P_i``, ``p_c = sum_i n_ic / (N n)``,
  ``P_e = sum_c p_c^2`` and ``kappa = (P - P_e) / (1 - P_e)``.
* Krippendorff's alpha, nominal metric, any number of raters with missing ratings: items with
  fewer than two ratings are not pairable and are dropped. The coincidence matrix counts, in each
  item ``u`` with ``m_u`` ratings, every ordered pair of ratings by different raters with weight
  ``1 / (m_u - 1)``; with ``n_c`` its row sums and ``n`` their total,
  ``alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

Category = Hashable
# item -> {rater: category}; an absent rater is a missing rating.
RatingTable = Mapping[Hashable, Mapping[Hashable, Category]]


def cohen_kappa(a: Sequence[Category], b: Sequence[Category]) -> float | None:
    """Cohen's kappa of two raters' categories for the same items, in the same order."""
    if len(a) != len(b):
        raise ValueError(f"the two raters rated {len(a)} and {len(b)} items; they must rate the same items")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    shares_a, shares_b = Counter(a), Counter(b)
    expected = sum(shares_a[c] * shares_b[c] for c in shares_a) / (n * n)
    if expected == 1.0:
        return None  # both raters used one and the same category: agreement by chance is certain
    return (observed - expected) / (1.0 - expected)


def fleiss_kappa(counts: Sequence[Mapping[Category, int]]) -> float | None:
    """Fleiss' kappa from each item's count of raters per category (the same number of raters per item)."""
    if not counts:
        return None
    raters = {sum(item.values()) for item in counts}
    if len(raters) != 1:
        raise ValueError(f"every item needs the same number of ratings, got {sorted(raters)}")
    n = raters.pop()
    if n < 2:
        raise ValueError("Fleiss' kappa needs at least 2 ratings per item")
    n_items = len(counts)
    per_item = [(sum(c * c for c in item.values()) - n) / (n * (n - 1)) for item in counts]
    observed = sum(per_item) / n_items
    totals: Counter[Category] = Counter()
    for item in counts:
        totals.update(item)
    expected = sum((total / (n_items * n)) ** 2 for total in totals.values())
    if expected == 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def krippendorff_alpha_nominal(table: RatingTable) -> float | None:
    """Krippendorff's alpha for nominal categories; items may miss any rater's rating."""
    coincidences: Counter[tuple[Category, Category]] = Counter()
    for ratings in table.values():
        values = list(ratings.values())
        m = len(values)
        if m < 2:
            continue  # a single rating pairs with nothing
        for i, j in ((i, j) for i in range(m) for j in range(m) if i != j):
            coincidences[(values[i], values[j])] += 1.0 / (m - 1)
    totals: Counter[Category] = Counter()
    for (c, _), weight in coincidences.items():
        totals[c] += weight
    n = sum(totals.values())
    disagreeing = sum(weight for (c, k), weight in coincidences.items() if c != k)
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k)
    if n <= 1 or expected == 0:
        return None  # no pairable ratings, or only one category in use
    return 1.0 - (n - 1) * disagreeing / expected


# --- the views the dashboard shows ---------------------------------------------------------------


@dataclass(frozen=True)
class PairAgreement:
    """Cohen's kappa of two raters over the items both rated."""

    rater_a: Hashable
    rater_b: Hashable
    items: int
    observed: float
    kappa: float | None


def pairwise_cohen(table: RatingTable, min_items: int = 2) -> list[PairAgreement]:
    """Cohen's kappa of every pair of raters with at least ``min_items`` items in common."""
    by_rater: dict[Hashable, dict[Hashable, Category]] = {}
    for item, ratings in table.items():
        for rater, category in ratings.items():
            by_rater.setdefault(rater, {})[item] = category
    pairs = []
    for ra, rb in combinations(sorted(by_rater, key=str), 2):
        common = [item for item in by_rater[ra] if item in by_rater[rb]]
        if len(common) < min_items:
            continue
        a = [by_rater[ra][item] for item in common]
        b = [by_rater[rb][item] for item in common]
        observed = sum(x == y for x, y in zip(a, b, strict=True)) / len(common)
        pairs.append(PairAgreement(ra, rb, len(common), observed, cohen_kappa(a, b)))
    return pairs


def fleiss_kappa_of_table(table: RatingTable, raters_per_item: int) -> tuple[float | None, int]:
    """Fleiss' kappa over the items with exactly ``raters_per_item`` ratings; also how many items that is."""
    counts = [Counter(r.values()) for r in table.values() if len(r) == raters_per_item]
    if raters_per_item < 2 or not counts:
        return None, 0
    return fleiss_kappa(counts), len(counts)


@dataclass(frozen=True)
class MajorityAgreement:
    """How often a rater agrees with the majority of the *other* raters of an item."""

    rater: Hashable
    agree: int
    items: int  # items where the others had a strict majority

    @property
    def rate(self) -> float | None:
        return self.agree / self.items if self.items else None


def agreement_with_majority(table: RatingTable) -> dict[Hashable, MajorityAgreement]:
    """Each rater against the leave-one-out majority: the rater's own rating never counts for it.

    Items where the other raters tie (or where nobody else rated) are left out for that rater.
    """
    agree: Counter[Hashable] = Counter()
    items: Counter[Hashable] = Counter()
    raters: set[Hashable] = set()
    for ratings in table.values():
        for rater, category in ratings.items():
            raters.add(rater)
            others = Counter(c for r, c in ratings.items() if r != rater)
            if not others:
                continue
            (top, top_count), *rest = others.most_common(2) + [(None, 0)]
            if rest[0][1] == top_count:
                continue  # the others tie: no majority to agree with
            items[rater] += 1
            agree[rater] += category == top
    return {r: MajorityAgreement(r, agree[r], items[r]) for r in sorted(raters, key=str)}
