from baton.evaluation.event_accuracy import judge_clip, judgement_for
from baton.world.detectors import DetectedEvent


def ev(label: str, onset: float) -> DetectedEvent:
    return DetectedEvent(label, onset, onset + 0.5, 0.9)


IN_ORDER = [ev("beep", 0.5), ev("rain", 2.0)]
REVERSED = [ev("rain", 0.2), ev("beep", 1.0)]
ONE_MISSING = [ev("beep", 0.5), ev("knock", 1.5)]


def test_temporal_prompts_need_the_order_too():
    in_order = judge_clip(IN_ORDER, ["beep", "rain"], "temporal")
    assert (in_order.correct, in_order.presence) == (True, True)
    reversed_ = judge_clip(REVERSED, ["beep", "rain"], "temporal")
    assert (reversed_.correct, reversed_.presence) == (False, True)
    missing = judge_clip(ONE_MISSING, ["beep", "rain"], "temporal")
    assert (missing.correct, missing.presence) == (False, False)


def test_integrity_and_single_prompts_are_judged_as_presence():
    assert judge_clip(REVERSED, ["beep", "rain"], "integrity").correct is True
    assert judge_clip(ONE_MISSING, ["beep", "rain"], "integrity").correct is False
    assert judge_clip([ev("knock", 1.0)], ["knock"], "single").correct is True


def test_untyped_prompts_are_judged_by_their_relation():
    assert judgement_for(None, "sequence", 2) == "temporal"
    assert judgement_for(None, "overlap", 2) == "integrity"
    assert judgement_for(None, "sequence", 1) == "integrity"
    assert judge_clip(REVERSED, ["beep", "rain"], None, "sequence").correct is False
