"""Agreement statistics on textbook examples whose values are worked out by hand below."""

import pytest

from baton.annotation.agreement import (
    agreement_with_majority,
    cohen_kappa,
    fleiss_kappa,
    fleiss_kappa_of_table,
    krippendorff_alpha_nominal,
    pairwise_cohen,
)


def test_cohen_kappa_two_readers_of_fifty_items():
    # The classic 2x2 example: 50 items; both yes 20, A yes / B no 5, A no / B yes 10, both no 15.
    # p_o = (20 + 15) / 50 = 0.7. A says yes 25 times (0.5), B 30 times (0.6):
    # p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5, kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
    a = [1] * 20 + [1] * 5 + [0] * 10 + [0] * 15
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_cohen_kappa_of_krippendorffs_binary_example():
    # A: 0 1 0 0 0 0 0 0 1 0, B: 1 1 1 0 0 1 0 0 0 0. They agree on 6 of 10: p_o = 0.6.
    # A says 1 twice (0.2), B four times (0.4): p_e = 0.2 * 0.4 + 0.8 * 0.6 = 0.56,
    # kappa = (0.6 - 0.56) / 0.44 = 1/11.
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert cohen_kappa(a, b) == pytest.approx(1 / 11)


def test_cohen_kappa_edge_cases():
    assert cohen_kappa([1, 0, 1], [1, 0, 1]) == pytest.approx(1.0)
    # Opposite on every item, each rater half yes: p_o = 0, p_e = 0.5, kappa = -1.
    assert cohen_kappa([1, 0], [0, 1]) == pytest.approx(-1.0)
    assert cohen_kappa([1, 1], [1, 1]) is None  # chance agreement is certain: undefined
    assert cohen_kappa([], []) is None
    with pytest.raises(ValueError, match="same items"):
        cohen_kappa([1], [1, 0])


def test_fleiss_kappa_fourteen_raters_ten_subjects():
    # Fleiss' worked example: 10 subjects, 14 raters each, 5 categories (counts per category).
    table = [
        (0, 0, 0, 0, 14),
        (0, 2, 6, 4, 2),
        (0, 0, 3, 5, 6),
        (0, 3, 9, 2, 0),
        (2, 2, 8, 1, 1),
        (7, 7, 0, 0, 0),
        (3, 2, 6, 3, 0),
        (2, 5, 3, 2, 2),
        (6, 5, 2, 1, 0),
        (0, 2, 2, 3, 7),
    ]
    # Column totals 20, 28, 39, 21, 32 of 140 ratings: p_j = 0.143, 0.200, 0.279, 0.150, 0.229, so
    # P_e = (400 + 784 + 1521 + 441 + 1024) / 140^2 = 4170 / 19600 = 0.21276.
    # Row 2: sum_j n_2j^2 = 0 + 4 + 36 + 16 + 4 = 60, P_2 = (60 - 14) / (14 * 13) = 46 / 182 = 0.253.
    # Over all rows sum_j n_ij^2 = 196 + 60 + 70 + 94 + 74 + 98 + 58 + 46 + 66 + 66 = 828, so
    # P = (828 - 10 * 14) / (10 * 182) = 688 / 1820 = 0.37802, and
    # kappa = (0.37802 - 0.21276) / (1 - 0.21276) = 0.20993 (Fleiss' published 0.210).
    p_bar = 688 / 1820
    p_e = 4170 / 19600
    counts = [dict(enumerate(row)) for row in table]
    assert fleiss_kappa(counts) == pytest.approx((p_bar - p_e) / (1 - p_e))
    assert fleiss_kappa(counts) == pytest.approx(0.2099, abs=1e-4)


def test_fleiss_kappa_two_raters_is_scotts_pi():
    # Krippendorff's binary example as two ratings per item: agreeing items have P_i = 1, the four
    # disagreeing ones 0, so P = 0.6; six 1s of 20 ratings: P_e = 0.3^2 + 0.7^2 = 0.58;
    # kappa = (0.6 - 0.58) / 0.42 = 1/21.
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    counts = [{0: (x == 0) + (y == 0), 1: (x == 1) + (y == 1)} for x, y in zip(a, b, strict=True)]
    assert fleiss_kappa(counts) == pytest.approx(1 / 21)


def test_fleiss_kappa_refuses_unequal_raters():
    with pytest.raises(ValueError, match="same number of ratings"):
        fleiss_kappa([{0: 2}, {0: 1, 1: 2}])
    assert fleiss_kappa([]) is None
    assert fleiss_kappa([{1: 3}, {1: 3}]) is None  # one category only


def test_krippendorff_alpha_binary_two_coders():
    # Krippendorff (2011), two coders, ten units (the data of the Cohen test above). Coincidences:
    # o_00 = 10 (five 0-0 units, 2 ordered pairs each), o_11 = 2, o_01 = o_10 = 4; n_0 = 14, n_1 = 6,
    # n = 20. alpha = 1 - (n - 1) * (o_01 + o_10) / (2 n_0 n_1) = 1 - 19 * 8 / 168 = 0.0952.
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    table = {u: {"A": x, "B": y} for u, (x, y) in enumerate(zip(a, b, strict=True))}
    assert krippendorff_alpha_nominal(table) == pytest.approx(1 - 19 * 8 / 168)
    assert krippendorff_alpha_nominal(table) == pytest.approx(0.095, abs=5e-4)


def test_krippendorff_alpha_four_coders_missing_values():
    # Krippendorff (2011): 4 coders, 12 units, values 1-5, blanks missing; nominal alpha = 0.743.
    N = None
    coders = {
        "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
        "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
        "C": [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
        "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
    }
    table = {u: {c: v[u] for c, v in coders.items() if v[u] is not None} for u in range(12)}
    # Unit 12 has one value and drops out. The coincidence matrix (rows c, columns k, 1..5):
    #   1: 7    4/3  1/3  1/3  0   | n_1 = 9
    #   2: 4/3  10   4/3  1/3  0   | n_2 = 13
    #   3: 1/3  4/3  8    1/3  0   | n_3 = 10
    #   4: 1/3  1/3  1/3  4    0   | n_4 = 5
    #   5: 0    0    0    0    3   | n_5 = 3          n = 40
    # Off-diagonal sum = 40 - (7 + 10 + 8 + 4 + 3) = 8; sum_{c != k} n_c n_k = 40^2 - (81 + 169 +
    # 100 + 25 + 9) = 1216. alpha = 1 - 39 * 8 / 1216 = 0.74342.
    assert krippendorff_alpha_nominal(table) == pytest.approx(1 - 39 * 8 / 1216)
    assert krippendorff_alpha_nominal(table) == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_alpha_undefined_cases():
    assert krippendorff_alpha_nominal({}) is None
    assert krippendorff_alpha_nominal({1: {"a": 1}, 2: {"b": 0}}) is None  # nothing pairable
    assert krippendorff_alpha_nominal({1: {"a": 1, "b": 1}, 2: {"a": 1, "b": 1}}) is None  # one value


def test_pairwise_cohen_uses_the_items_in_common():
    table = {
        1: {"ann": 1, "bob": 1, "cat": 0},
        2: {"ann": 0, "bob": 0},
        3: {"ann": 1, "bob": 0, "cat": 1},
        4: {"bob": 1, "cat": 1},
    }
    pairs = {(p.rater_a, p.rater_b): p for p in pairwise_cohen(table)}
    # ann-bob share items 1, 2, 3: ann 1 0 1, bob 1 0 0: p_o = 2/3; ann yes 2/3, bob yes 1/3:
    # p_e = 2/3 * 1/3 + 1/3 * 2/3 = 4/9; kappa = (2/3 - 4/9) / (5/9) = 0.4.
    assert pairs[("ann", "bob")].items == 3
    assert pairs[("ann", "bob")].kappa == pytest.approx(0.4)
    # ann-cat share items 1 and 3: (1, 0) and (1, 1): p_o = 1/2; ann always yes: p_e = 1 * 1/2,
    # kappa = 0.
    assert pairs[("ann", "cat")].kappa == pytest.approx(0.0)
    # bob-cat share items 1, 3, 4.
    assert pairs[("bob", "cat")].items == 3
    assert pairwise_cohen(table, min_items=4) == []


def test_agreement_with_the_others_majority():
    table = {
        1: {"a": 1, "b": 1, "c": 1},  # everyone agrees with the others
        2: {"a": 1, "b": 1, "c": 0},  # c against a majority of 1; a and b see a 1-1 tie: left out
        3: {"a": 0, "b": 1, "c": 1},  # a against 1; b and c see a tie
        4: {"a": 1},  # nobody else: left out
    }
    result = agreement_with_majority(table)
    # a: item 1 agrees; items 2 (b, c tie) left out; item 3 disagrees -> 1 of 2.
    assert (result["a"].agree, result["a"].items) == (1, 2)
    # b: item 1 agrees; item 2 (a=1, c=0 tie) out; item 3 (a=0, c=1 tie) out -> 1 of 1.
    assert (result["b"].agree, result["b"].items) == (1, 1)
    # c: item 1 agrees; item 2 disagrees with a, b = 1; item 3 ties -> 1 of 2.
    assert (result["c"].agree, result["c"].items) == (1, 2)
    assert result["a"].rate == pytest.approx(0.5)


def test_fleiss_of_table_keeps_complete_items_only():
    table = {1: {"a": 1, "b": 1}, 2: {"a": 0, "b": 1}, 3: {"a": 1}}
    kappa, items = fleiss_kappa_of_table(table, 2)
    # Items 1, 2: P = (1 + 0) / 2 = 0.5; ones 3 of 4: P_e = 0.75^2 + 0.25^2 = 0.625; kappa = -1/3.
    assert items == 2
    assert kappa == pytest.approx((0.5 - 0.625) / 0.375)
    assert fleiss_kappa_of_table(table, 3) == (None, 0)
