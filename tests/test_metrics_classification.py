"""cvbook.metrics.classification against scikit-learn."""
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings, strategies as st

from conftest import reference
from cvbook.metrics import classification as measures

skm = reference("sklearn.metrics")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=60))
def test_error_and_balanced_error_match_sklearn(pairs):
    pred, target = map(torch.tensor, zip(*pairs))
    assert measures.error_rate(pred, target) == pytest.approx(1 - skm.accuracy_score(target, pred))
    assert measures.accuracy(pred, target) == pytest.approx(skm.accuracy_score(target, pred))
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = 1 - skm.balanced_accuracy_score(target, pred)
    assert measures.balanced_error_rate(pred, target) == pytest.approx(expected)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(0, 1)), min_size=2, max_size=80))
def test_roc_curve_and_auc_match_sklearn_with_ties(pairs):
    scores, target = zip(*pairs)
    assume(len(set(target)) == 2)
    scores, target = torch.tensor(scores, dtype=torch.float64) / 2, torch.tensor(target)
    fpr, tpr, thr = measures.roc_curve(scores, target)
    sk_fpr, sk_tpr, sk_thr = skm.roc_curve(target, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    assert measures.roc_auc(scores, target) == pytest.approx(skm.roc_auc_score(target, scores))


def test_tp_fp_rates_by_hand():
    # 3 positives, 1 predicted positive; 4 negatives, 2 predicted positive.
    pred = torch.tensor([1, 0, 0, 1, 1, 0, 0])
    target = torch.tensor([1, 1, 1, 0, 0, 0, 0])
    assert measures.tp_fp_rates(pred, target) == pytest.approx((1 / 3, 2 / 4))


def test_scores_are_reduced_by_argmax():
    logits = torch.tensor([[2.0, 0.1, 0.3], [0.0, 1.0, 0.5], [0.2, 0.1, 3.0], [1.0, 2.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 0])
    assert measures.accuracy(logits, labels) == measures.accuracy(logits.argmax(1), labels) == 0.5
    assert measures.error_rate(logits.softmax(1), labels) == 0.5


def test_errors_are_clear():
    with pytest.raises(ValueError, match="differ in length"):
        measures.error_rate([0, 1], [0])
    # logits of 4 samples against 12 labels: said in terms of samples, not "12 vs 4" values
    with pytest.raises(ValueError, match="scores for 4 samples"):
        measures.error_rate(torch.randn(4, 3), torch.zeros(12, dtype=torch.long))
    with pytest.raises(ValueError, match="labels \\(N,\\) or scores \\(N, C\\)"):
        measures.accuracy(torch.randn(2, 3, 4), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="fractional"):
        measures.accuracy(torch.tensor([0, 1]), torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match="one score per sample"):
        measures.roc_curve(torch.rand(4, 2), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="empty"):
        measures.error_rate([], [])
    with pytest.raises(ValueError, match="both positive"):
        measures.roc_curve([0.1, 0.2], [1, 1])
