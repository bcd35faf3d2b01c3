"""cvbook.detection.mtcnn against facenet-pytorch's MTCNN (the same trained weights), plus its pieces
checked by hand and against torch."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F
import torchvision

from conftest import reference
from cvbook.data.faces import compose_face_scenes
from cvbook.detection import mtcnn


@pytest.fixture(scope="module")
def facenet():
    """facenet-pytorch's MTCNN: the reference, and the wheel that ships the weights."""
    module = reference("facenet_pytorch.models.mtcnn")
    return module.MTCNN(keep_all=True, device="cpu")


def sample_images() -> list[np.ndarray]:
    astronaut = skimage.data.astronaut()
    scenes = compose_face_scenes(5, seed=3, faces_per_image=(1, 4), distractors=2, max_rotation=25)[0]
    wide = compose_face_scenes(2, seed=4, image_size=(200, 320), face_size=(24, 90))[0]
    empty = compose_face_scenes(1, seed=5, faces_per_image=(0, 0))[0]
    # the astronaut's face cut by the image's border: the refining crops are clipped there
    cut = [astronaut[80:, 200:], astronaut[:150, 185:300], astronaut[70:400, :250]]
    return [astronaut, *cut, *scenes, *wide, *empty]


def as_tensors(boxes, scores) -> tuple[torch.Tensor, torch.Tensor]:
    if boxes is None:
        return torch.zeros(0, 4), torch.zeros(0)
    return torch.from_numpy(np.asarray(boxes, np.float32)), torch.from_numpy(np.asarray(scores, np.float32))


def test_same_faces_and_boxes_as_facenet_pytorch(facenet):
    total = 0
    for i, image in enumerate(sample_images()):
        boxes, scores = mtcnn.detect_faces(image)
        ref_boxes, ref_scores = as_tensors(*facenet.detect(image))
        assert boxes.shape == ref_boxes.shape, f"image {i}: {len(boxes)} faces vs {len(ref_boxes)}"
        if not len(boxes):
            continue
        # facenet-pytorch orders faces by area; pair each of ours with its nearest reference box
        nearest = torch.cdist(boxes, ref_boxes).argmin(dim=1)
        assert sorted(nearest.tolist()) == list(range(len(boxes))), f"image {i}: faces do not pair up"
        assert (boxes - ref_boxes[nearest]).abs().max() < 1.0, f"image {i}: a box is more than a pixel off"
        torch.testing.assert_close(scores, ref_scores[nearest], atol=1e-4, rtol=0)
        assert (scores[:-1] >= scores[1:]).all()
        total += len(boxes)
    assert total >= 15  # the comparison covers many faces, not a couple


def test_finds_the_astronauts_face(facenet):
    boxes, scores = mtcnn.detect_faces(skimage.data.astronaut())
    assert boxes.shape == (1, 4) and scores[0] > 0.99
    # Eileen Collins' face, found by eye: columns about 180-270, rows about 60-175
    assert torchvision.ops.box_iou(boxes, torch.tensor([[180.0, 60.0, 268.0, 172.0]]))[0, 0] > 0.9


def test_input_forms_agree(facenet):
    image = skimage.data.astronaut()[:256, 100:356]
    boxes, scores = mtcnn.detect_faces(image)
    as_float = torch.from_numpy(image).permute(2, 0, 1).float() / 255  # torchvision's (3, H, W) in [0, 1]
    boxes_t, scores_t = mtcnn.detect_faces(as_float)
    assert len(boxes) == len(boxes_t) == 1
    assert (boxes - boxes_t).abs().max() < 1.0 and (scores - scores_t).abs().max() < 1e-3


# ------------------------------------------------------------------------- the pieces


def test_pyramid_scales_by_hand():
    # 12 / 20 = 0.6, then x 0.709 while the shorter side (60) times the scale is >= 12:
    # 36 -> 25.5 -> 18.1 -> 12.8 -> 9.1 (stop): four levels
    scales = mtcnn.pyramid_scales(60, 80, min_face_size=20)
    assert np.allclose(scales, [0.6, 0.6 * 0.709, 0.6 * 0.709**2, 0.6 * 0.709**3])
    assert mtcnn.pyramid_scales(10, 80, min_face_size=20) == []


def test_pnet_is_a_12_pixel_window_with_stride_2(facenet):
    pnet = mtcnn.load_mtcnn()[0]
    prob, offsets = pnet(torch.zeros(1, 3, 12, 12))
    assert prob.shape == (1, 1, 1) and offsets.shape == (1, 4, 1, 1)
    prob, offsets = pnet(torch.zeros(2, 3, 30, 40))
    assert prob.shape == (2, 10, 15)  # (30 - 12) / 2 + 1 = 10, (40 - 12) / 2 + 1 = 15
    # a window's output depends on its 12 x 12 pixels only
    x = torch.randn(1, 3, 30, 40, generator=torch.Generator().manual_seed(0))
    window = pnet(x[:, :, 4:16, 6:18])[0][0, 0, 0]
    torch.testing.assert_close(pnet(x)[0][0, 2, 3], window)


def test_networks_match_facenet_pytorch_layer_for_layer(facenet):
    g = torch.Generator().manual_seed(1)
    ours = mtcnn.load_mtcnn()
    theirs = (facenet.pnet, facenet.rnet, facenet.onet)
    for net, ref, size in zip(ours, theirs, (30, 24, 48)):
        x = torch.randn(5, 3, size, size, generator=g)
        got, expected = net(x), ref(x)
        if size == 30:  # P-Net: (offsets, probabilities) in the reference
            torch.testing.assert_close(got[0], expected[1][:, 1])
            torch.testing.assert_close(got[1], expected[0])
        else:
            torch.testing.assert_close(got[0], expected[-1][:, 1])
            torch.testing.assert_close(got[1], expected[0])


def test_pnet_windows_by_hand():
    prob = torch.tensor([[0.1, 0.9], [0.7, 0.2]])
    offsets = torch.arange(16.0).reshape(4, 2, 2)
    boxes, scores, offs = mtcnn.pnet_windows(prob, offsets, scale=0.5, threshold=0.6)
    # cell (row 0, col 1): x = 2 * 1 = 2 -> [(2 + 1) / 0.5, (2 + 12) / 0.5] = [6, 28]; y -> [2, 24]
    # cell (row 1, col 0): x -> [2, 24], y = 2 -> [6, 28]
    assert boxes.tolist() == [[6, 2, 28, 24], [2, 6, 24, 28]]
    torch.testing.assert_close(scores, torch.tensor([0.9, 0.7]))
    assert offs.tolist() == [[1, 5, 9, 13], [2, 6, 10, 14]]


def test_square_regress_and_crop_by_hand():
    boxes = torch.tensor([[10.0, 20.0, 30.0, 60.0]])  # 20 wide, 40 high
    assert mtcnn.square_boxes(boxes).tolist() == [[0, 20, 40, 60]]
    offsets = torch.tensor([[0.1, -0.1, 0.0, 0.5]])
    assert mtcnn.regress_boxes(boxes, offsets, inclusive=False).tolist() == [[12, 16, 30, 80]]
    assert torch.allclose(mtcnn.regress_boxes(boxes, offsets, inclusive=True), torch.tensor([[12.1, 15.9, 30, 80.5]]))
    # 1-based truncation, clipped to a 50 x 40 (H x W) image; the last box lies outside
    ranges = mtcnn.crop_ranges(torch.tensor([[-5.5, 3.9, 20.2, 70.0], [45.0, 10.0, 60.0, 20.0]]), 50, 40)
    assert ranges.tolist() == [[0, 2, 20, 50], [44, 9, 40, 20]]


def test_resize_crops_equals_area_interpolation():
    g = torch.Generator().manual_seed(2)
    image = torch.randint(0, 256, (3, 70, 90), generator=g).float()
    ranges = torch.tensor([[0, 0, 90, 70], [5, 7, 31, 29], [60, 40, 90, 70], [10, 3, 17, 60], [2, 2, 5, 4]])
    crops = mtcnn.resize_crops(mtcnn.integral_image(image), ranges, 24)
    for (left, top, right, bottom), crop in zip(ranges.tolist(), crops):
        expected = F.interpolate(image[None, :, top:bottom, left:right], size=(24, 24), mode="area")[0]
        torch.testing.assert_close(crop, expected, atol=1e-3, rtol=1e-6)


def test_nms_min_overlap_removes_nested_boxes():
    boxes = torch.tensor([[0.0, 0, 99, 99], [20, 20, 49, 49], [60, 0, 159, 99], [300, 300, 310, 310]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    # box 1 lies inside box 0: IoU 0.09 (kept by IoU NMS), overlap of the smaller 1.0 (removed);
    # box 2 overlaps box 0 by 40 / 100 columns: 0.4 of the smaller, kept
    assert torchvision.ops.nms(boxes, scores, 0.7).tolist() == [0, 1, 2, 3]
    assert mtcnn.nms_min_overlap(boxes, scores, 0.7).tolist() == [0, 2, 3]
    # a chain: 2 removes 3 only if 2 is kept; here 0 removes 2 (0.8 overlap), so 3 survives
    chain = torch.tensor([[0.0, 0, 9, 9], [2, 0, 11, 9], [4, 0, 13, 9], [100, 0, 109, 9]])
    kept = mtcnn.nms_min_overlap(chain, torch.tensor([0.9, 0.8, 0.7, 0.6]), 0.7)
    assert kept.tolist() == [0, 2, 3]  # 0 removes 1 (0.8); 2 overlaps 0 by 0.6 only


def test_errors(facenet, monkeypatch):
    image = skimage.data.astronaut()
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        mtcnn.detect_faces(image[..., :2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mtcnn.detect_faces(image.astype(np.float32))
    with pytest.raises(ValueError, match="three probabilities"):
        mtcnn.detect_faces(image, thresholds=(0.6, 0.7))
    with pytest.raises(ValueError, match="min_face_size"):
        mtcnn.detect_faces(image, min_face_size=8)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install --no-deps facenet-pytorch==2\.6\.0"):
        mtcnn.weights_folder()
