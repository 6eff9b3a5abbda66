import math

import numpy as np
import pytest

from baton.evaluation.clap_score import clap_scores


def test_cosines_by_hand():
    text = np.array([[1.0, 0.0], [0.0, 2.0]])
    audio = np.array([[1.0, 1.0], [0.0, -3.0]])
    assert clap_scores(text, audio) == pytest.approx([1 / math.sqrt(2), -1.0])


def test_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        clap_scores(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="zero"):
        clap_scores(np.zeros((1, 3)), np.ones((1, 3)))
