"""Face scenes (cvbook.data.faces), the LBP cascade (cvbook.detection.cascade) against
scikit-image's own grouping, and MTCNN against the cascade by AP on the same scenes."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
import torchvision
from skimage.transform import resize

from conftest import reference
from cvbook._checks import check_image_array
from cvbook.data import compose_face_scenes, lfw_faces
from cvbook.detection import cascade
from cvbook.metrics.detection import mean_average_precision


# ------------------------------------------------------------------------------ scenes


def test_scenes_shapes_and_determinism():
    images, boxes = compose_face_scenes(5, seed=7, image_size=(200, 300), face_size=(30, 90))
    assert images.shape == (5, 200, 300, 3) and images.dtype == np.uint8
    assert len(boxes) == 5 and all(b.dtype == torch.float32 and b.shape[1] == 4 for b in boxes)
    again, boxes_again = compose_face_scenes(5, seed=7, image_size=(200, 300), face_size=(30, 90))
    assert np.array_equal(images, again) and all(torch.equal(a, b) for a, b in zip(boxes, boxes_again))
    other, _ = compose_face_scenes(5, seed=8, image_size=(200, 300), face_size=(30, 90))
    assert not np.array_equal(images, other)
    for b in boxes:
        assert 1 <= len(b) <= 4
        sides = b[:, 2:] - b[:, :2]
        assert (sides[:, 0] == sides[:, 1]).all() and (sides >= 30).all() and (sides <= 90).all()
        assert (b[:, :2] >= 0).all() and (b[:, 2] <= 300).all() and (b[:, 3] <= 200).all()
        iou = torchvision.ops.box_iou(b, b)
        assert (iou - torch.eye(len(b))).abs().max() == 0  # faces never overlap


def test_each_box_holds_an_lfw_face():
    images, boxes = compose_face_scenes(3, seed=1, distractors=2)
    faces = lfw_faces()
    for image, scene_boxes in zip(images, boxes):
        for x1, y1, x2, y2 in scene_boxes.int().tolist():
            patch = image[y1:y2, x1:x2].astype(np.int16)
            assert (patch == patch[..., :1]).all()  # pasted in grey
            # the same pixels as one of the 100 faces, resized to the box
            candidates = np.stack([resize(f, (y2 - y1, x2 - x1), order=1, anti_aliasing=False) for f in faces])
            error = np.abs(np.round(candidates * 255) - patch[None, ..., 0]).max(axis=(1, 2))
            assert error.min() == 0


def test_scene_errors():
    with pytest.raises(ValueError, match="2x2 grid"):
        compose_face_scenes(1, faces_per_image=(1, 5))
    with pytest.raises(ValueError, match="face_size"):
        compose_face_scenes(1, image_size=100, face_size=(20, 60))
    with pytest.raises(ValueError, match="max_rotation"):
        compose_face_scenes(1, max_rotation=120)
    with pytest.raises(ValueError, match="choose .faces."):
        lfw_faces("cats")


def test_check_image_array_forms_and_scales():
    image = skimage.data.astronaut()[:50, :60]
    expected = image.astype(np.float32)
    pixels = check_image_array(image, scale=255, dtype=np.float32)  # what the face detectors take
    assert pixels.dtype == np.float32 and np.array_equal(pixels, expected)
    as_tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    np.testing.assert_allclose(check_image_array(as_tensor, scale=255), expected, atol=1e-3)
    grey = check_image_array(image[..., 0], scale=255)
    assert grey.shape == (50, 60, 3) and np.array_equal(grey[..., 2], expected[..., 0])
    fractions = check_image_array(image)  # what scikit-image's algorithms take: float64 in [0, 1]
    assert fractions.dtype == np.float64 and np.array_equal(fractions, image.astype(np.float64) / 255)
    floats = image / 255.0
    assert np.array_equal(check_image_array(floats), floats)
    assert np.array_equal(check_image_array(floats.astype(np.float32), scale=255, dtype=np.float32),
                          (floats.astype(np.float32) * 255).astype(np.float32))
    with pytest.raises(ValueError, match="NaN"):
        check_image_array(np.full((4, 4, 3), np.nan))
    with pytest.raises(ValueError, match="dtype"):
        check_image_array(np.zeros((4, 4, 3), np.int32), scale=255)
    with pytest.raises(ValueError, match="divide by 255"):
        check_image_array(np.full((4, 4, 3), 2.0))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        check_image_array(np.zeros((4, 4, 4)))


# ----------------------------------------------------------------------------- cascade


def test_group_windows_by_hand_and_in_any_order():
    windows = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [2, 0, 12, 10],  # one face, three windows
                            [40, 40, 50, 50], [44, 40, 54, 50],  # 0.6 overlap: linked
                            [80, 80, 90, 90], [86, 80, 96, 90]])  # 0.4 overlap: not linked
    boxes, counts = cascade.group_windows(windows)
    assert counts.tolist() == [3, 2, 1, 1]
    torch.testing.assert_close(boxes[:2], torch.tensor([[1.0, 1 / 3, 11, 31 / 3], [42, 40, 52, 50]]))
    shuffled = windows[torch.randperm(7, generator=torch.Generator().manual_seed(0))]
    boxes_s, counts_s = cascade.group_windows(shuffled)
    key = lambda b, c: sorted(zip(c.tolist(), b.round(decimals=4).tolist()))  # noqa: E731
    assert key(boxes, counts) == key(boxes_s, counts_s)


def test_cascade_agrees_with_scikit_image_on_the_astronaut():
    image = skimage.data.astronaut()
    boxes, counts = cascade.detect_faces_lbp(image, min_size=60, max_size=123)
    found = cascade.load_cascade().detect_multi_scale(img=image, scale_factor=1.2, step_ratio=1,
                                                      min_size=(60, 60), max_size=(123, 123))
    reference_boxes = torch.tensor([[d["c"], d["r"], d["c"] + d["width"], d["r"] + d["height"]] for d in found],
                                   dtype=torch.float32)
    assert len(reference_boxes) == 1  # scikit-image's default keeps groups of >= 4 windows
    assert counts[0] >= 4 and (counts[1:] < 4).all()  # one strong group: the face
    assert torchvision.ops.box_iou(boxes[:1], reference_boxes)[0, 0] > 0.9
    strong, strong_counts = cascade.detect_faces_lbp(image, min_size=60, max_size=123, min_neighbors=4)
    assert torch.equal(strong, boxes[:1]) and torch.equal(strong_counts, counts[:1])


def test_cascade_errors():
    image = skimage.data.astronaut()[:100, :100]
    with pytest.raises(ValueError, match="min_size"):
        cascade.detect_faces_lbp(image, min_size=10)
    with pytest.raises(ValueError, match="scale_factor"):
        cascade.detect_faces_lbp(image, scale_factor=1.0)
    boxes, counts = cascade.detect_faces_lbp(np.zeros((30, 30), np.uint8))
    assert boxes.shape == (0, 4) and counts.shape == (0,)


# ------------------------------------------------------------------ MTCNN vs the cascade


def ap50(detector, images, boxes) -> float:
    predictions, targets = [], []
    for image, gt in zip(images, boxes):
        found, scores = detector(image)
        predictions.append({"boxes": found, "scores": scores, "labels": torch.zeros(len(found), dtype=torch.long)})
        targets.append({"boxes": gt, "labels": torch.zeros(len(gt), dtype=torch.long)})
    return mean_average_precision(predictions, targets, iou_thresholds=[0.5], interpolation="voc2010",
                                  max_detections=None).map_50


def test_mtcnn_beats_the_cascade_on_tilted_faces():
    reference("facenet_pytorch")  # MTCNN's weights
    from cvbook.detection.mtcnn import detect_faces

    # 24 scenes, 60 faces tilted by up to 30 degrees, hard negatives in empty cells. Measured:
    # MTCNN 0.844, the cascade 0.522 (benchmarks/faces.py has the larger set).
    images, boxes = compose_face_scenes(24, seed=0, distractors=2, max_rotation=30)
    assert sum(len(b) for b in boxes) == 60
    mtcnn_ap, cascade_ap = ap50(detect_faces, images, boxes), ap50(cascade.detect_faces_lbp, images, boxes)
    assert mtcnn_ap > 0.75 and cascade_ap < 0.65 and mtcnn_ap - cascade_ap > 0.2, (mtcnn_ap, cascade_ap)


def test_docstring_examples():
    import doctest

    from cvbook.data import faces
    from cvbook.detection import mtcnn

    for module in (faces, cascade, mtcnn):
        result = doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted >= 1 and result.failed == 0, module.__name__


def test_tilt_changes_nothing_but_the_tilt():
    upright_images, upright = compose_face_scenes(4, seed=2, distractors=2)
    tilted_images, tilted = compose_face_scenes(4, seed=2, distractors=2, max_rotation=30)
    assert all(torch.equal(a, b) for a, b in zip(upright, tilted))
    assert not np.array_equal(upright_images, tilted_images)


def test_group_windows_errors():
    with pytest.raises(ValueError, match="x1 <= x2"):
        cascade.group_windows(torch.tensor([[5.0, 0, 1, 4]]))
    with pytest.raises(ValueError, match="min_overlap"):
        cascade.group_windows(torch.tensor([[0.0, 0, 1, 4]]), min_overlap=2)
    with pytest.raises(ValueError, match="greyscale"):
        cascade.raw_windows(np.zeros((30, 30, 3)), 24, 30, 1.2, 1.0)
