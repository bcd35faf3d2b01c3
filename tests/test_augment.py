"""cvbook.augment against NumPy's eigen-decomposition, closed forms and torchvision's ten_crop."""

import numpy as np
import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from cvbook.augment import PCAColour, five_crop, pca_colour_basis, ten_crop, ten_crop_predict


def _coloured_images(n=6, size=9, seed=0):
    """Images whose RGB values are correlated (a random mixing of three sources)."""
    g = torch.Generator().manual_seed(seed)
    sources = torch.rand(n, 3, size, size, generator=g)
    mixing = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
    return torch.einsum("ij,njhw->nihw", mixing, sources)


def test_pca_basis_matches_numpy():
    images = _coloured_images()
    values, vectors = pca_colour_basis(images.double())
    pixels = images.permute(0, 2, 3, 1).reshape(-1, 3).double().numpy()
    ref_values, ref_vectors = np.linalg.eigh(np.cov(pixels, rowvar=False))
    np.testing.assert_allclose(values.numpy(), ref_values[::-1], rtol=1e-10, atol=1e-14)
    # Eigenvectors are defined up to sign: compare |cosines| (distinct eigenvalues here).
    cosines = np.abs(np.sum(vectors.numpy() * ref_vectors[:, ::-1], axis=0))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-10)
    # Orthonormal columns and decreasing eigenvalues.
    np.testing.assert_allclose(vectors.T.numpy() @ vectors.numpy(), np.eye(3), atol=1e-12)
    assert values[0] >= values[1] >= values[2] >= 0


def test_shift_is_constant_per_image_and_has_the_drawn_coordinates():
    images = _coloured_images(n=4)
    values, vectors = pca_colour_basis(images)
    aug = PCAColour(values, vectors, sigma=0.5, generator=torch.Generator().manual_seed(3))
    out = aug(images)
    delta = out - images
    # One RGB shift per image, the same at every pixel.
    assert torch.allclose(delta, delta[:, :, :1, :1].expand_as(delta), atol=1e-6)
    # Its coordinates in the principal basis are alpha_i * sqrt(lambda_i), alpha ~ N(0, 0.5^2)
    # drawn from the same generator state.
    alpha = torch.randn(4, 3, generator=torch.Generator().manual_seed(3)) * 0.5
    coords = delta[:, :, 0, 0] @ vectors  # (4, 3): projections on p_1..p_3
    torch.testing.assert_close(coords, alpha * values.sqrt(), atol=1e-5, rtol=1e-5)


def test_shift_lies_in_the_span_of_the_principal_components():
    # Colours with no blue variation: the covariance has rank 2, blue's eigenvalue is 0,
    # so no shift may ever add or remove blue.
    g = torch.Generator().manual_seed(1)
    images = torch.rand(20, 3, 5, 5, generator=g)
    images[:, 2] = 0.25
    values, vectors = pca_colour_basis(images)
    assert values[2] == pytest.approx(0.0, abs=1e-7)
    out = PCAColour(values, vectors, sigma=1.0, generator=g)(images)
    torch.testing.assert_close(out[:, 2], images[:, 2], atol=1e-6, rtol=0)
    # Grey images (R = G = B): rank 1, every shift is along (1, 1, 1) / sqrt(3).
    grey = torch.rand(20, 1, 5, 5, generator=g).expand(20, 3, 5, 5)
    values, vectors = pca_colour_basis(grey)
    torch.testing.assert_close(vectors[:, 0].abs(), torch.full((3,), 3 ** -0.5), atol=1e-6, rtol=0)
    delta = (PCAColour(values, vectors, sigma=1.0, generator=g)(grey) - grey)[:, :, 0, 0]
    torch.testing.assert_close(delta, delta[:, :1].expand(20, 3), atol=1e-6, rtol=0)


def test_shift_scale_statistics():
    # Over many images the spread along p_i is sigma * sqrt(lambda_i) ("std") or
    # sigma * lambda_i ("eigenvalue").
    values = torch.tensor([0.09, 0.04, 0.01])
    q, _ = torch.linalg.qr(torch.tensor([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [1.5, 0.2, -0.7]]))
    images = torch.zeros(40000, 3, 1, 1)
    for scale, expected in (("std", 0.2 * values.sqrt()), ("eigenvalue", 0.2 * values)):
        aug = PCAColour(values, q, sigma=0.2, scale=scale, generator=torch.Generator().manual_seed(0))
        coords = aug(images)[:, :, 0, 0] @ q
        torch.testing.assert_close(coords.std(dim=0), expected, rtol=0.03, atol=0)
        assert coords.mean(dim=0).abs().max() < 4 * expected.max() / 200


def test_pca_colour_in_a_torchvision_pipeline_single_image():
    images = _coloured_images(n=2)
    values, vectors = pca_colour_basis(images)
    pipeline = v2.Compose([v2.RandomHorizontalFlip(p=1.0), PCAColour(values, vectors, sigma=0.0)])
    torch.testing.assert_close(pipeline(images[0]), images[0].flip(-1))  # sigma = 0: no shift


@pytest.mark.parametrize("size", [(32, 32), (31, 27), (24, 33)])
@pytest.mark.parametrize("crop", [24, (17, 22), 19])
def test_ten_crop_matches_torchvision(size, crop):
    image = torch.rand(3, *size, generator=torch.Generator().manual_seed(0))
    ours = ten_crop(image, crop)
    ref = torch.stack(TF.ten_crop(image, list(crop) if isinstance(crop, tuple) else [crop, crop]))
    torch.testing.assert_close(ours, ref, atol=0, rtol=0)
    ref5 = torch.stack(TF.five_crop(image, list(crop) if isinstance(crop, tuple) else [crop, crop]))
    torch.testing.assert_close(five_crop(image, crop), ref5, atol=0, rtol=0)


def test_ten_crop_predict_averages_softmax_over_views():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(5))
    images = torch.rand(3, 3, 12, 14)
    model(images[:, :, :10, :10])  # materialise the lazy layer
    got = ten_crop_predict(model, images, 10)
    expected = torch.stack([
        torch.stack([model(view[None]).softmax(-1)[0] for view in TF.ten_crop(img, [10, 10])]).mean(0)
        for img in images
    ])
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(got.sum(-1), torch.ones(3))


def test_invalid_inputs_raise_value_error():
    with pytest.raises(ValueError, match="3, H, W"):
        pca_colour_basis(torch.rand(2, 1, 4, 4))
    with pytest.raises(ValueError, match="floating point"):
        pca_colour_basis(torch.zeros(2, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="eigenvalues"):
        PCAColour(torch.ones(2), torch.eye(3))
    with pytest.raises(ValueError, match="negative"):
        PCAColour(torch.tensor([1.0, -1.0, 0.0]), torch.eye(3))
    with pytest.raises(ValueError, match="scale"):
        PCAColour(torch.ones(3), torch.eye(3), scale="variance")
    with pytest.raises(ValueError, match="fit in the image"):
        ten_crop(torch.rand(3, 8, 8), 9)
    with pytest.raises(ValueError, match="batch"):
        ten_crop_predict(torch.nn.Identity(), torch.rand(3, 8, 8), 4)
