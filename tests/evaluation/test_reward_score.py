import numpy as np
import pytest

from baton.evaluation.reward_score import mean_reward, positive_share


def test_mean_and_positive_share_by_hand():
    p = np.array([0.2, 0.8, 0.5])
    assert mean_reward(p) == pytest.approx(0.5)
    assert positive_share(p) == pytest.approx(2 / 3)


def test_probabilities_outside_zero_one_are_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mean_reward(np.array([0.5, 1.2]))
    with pytest.raises(ValueError, match="at least one clip"):
        mean_reward(np.array([]))
