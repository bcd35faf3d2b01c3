"""cvbook.measures against scikit-learn."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from sklearn import metrics as skm

from cvbook import measures


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
    if len(set(target)) < 2:
        return
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


def test_errors_are_clear():
    with pytest.raises(ValueError, match="differ in length"):
        measures.error_rate([0, 1], [0])
    with pytest.raises(ValueError, match="empty"):
        measures.error_rate([], [])
    with pytest.raises(ValueError, match="both positive"):
        measures.roc_curve([0.1, 0.2], [1, 1])
