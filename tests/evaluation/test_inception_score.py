import math

import numpy as np
import pytest

from baton.evaluation.inception_score import inception_score, inception_score_from_logits


def one_hot(classes: list[int], n_classes: int) -> np.ndarray:
    return np.eye(n_classes)[classes]


def test_confident_and_evenly_spread_is_the_number_of_classes():
    assert inception_score(one_hot([0, 1, 2, 3, 0, 1, 2, 3], 4))[0] == pytest.approx(4.0)


def test_one_distribution_for_every_clip_is_one():
    p = np.tile([[0.7, 0.2, 0.1]], (5, 1))
    assert inception_score(p)[0] == pytest.approx(1.0)


def test_two_class_example_by_hand():
    # p(y) = (3/4, 1/4); KL of (1, 0) = ln(4/3); KL of (1/2, 1/2) = 1/2 ln(4/3); IS = (4/3)^(3/4)
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert inception_score(p)[0] == pytest.approx((4 / 3) ** 0.75)
    assert inception_score(p)[0] == pytest.approx(math.exp(0.75 * math.log(4 / 3)))


def test_splits_have_their_own_marginal():
    # Halves {0, 0, 1, 1} and {2, 2, 3, 3}: IS 2 each; over all eight clips, 4.
    p = one_hot([0, 0, 1, 1, 2, 2, 3, 3], 4)
    assert inception_score(p, splits=2) == (pytest.approx(2.0), pytest.approx(0.0))
    assert inception_score(p, splits=1)[0] == pytest.approx(4.0)


def test_from_logits_is_the_softmax():
    p = np.array([[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    assert inception_score_from_logits(np.log(p))[0] == pytest.approx(inception_score(p)[0])


def test_bad_input():
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(np.array([[0.5, 0.2]]))
    with pytest.raises(ValueError, match="splits"):
        inception_score(one_hot([0, 1], 2), splits=3)
