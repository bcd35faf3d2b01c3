"""Detection samples through transforms.v2 (cvbook.data.transforms): boxes and masks follow the image."""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from cvbook.data import ShapesDetection
from cvbook.data.transforms import detection_transform, to_tv_tensors


def test_horizontal_flip_moves_boxes_to_width_minus_x():
    raw = ShapesDetection(6, split="test")
    flipped = ShapesDetection(6, split="test", transform=detection_transform(v2.RandomHorizontalFlip(p=1.0)))
    for i in range(len(raw)):
        image, target = raw[i]
        f_image, f_target = flipped[i]
        width = image.shape[-1]
        x1, y1, x2, y2 = target["boxes"].unbind(-1)
        by_hand = torch.stack([width - x2, y1, width - x1, y2], dim=-1)
        assert isinstance(f_target["boxes"], tv_tensors.BoundingBoxes)
        torch.testing.assert_close(f_target["boxes"].as_subclass(torch.Tensor), by_hand)
        assert torch.equal(f_image.as_subclass(torch.Tensor), image.flip(-1))
        assert torch.equal(f_target["masks"].as_subclass(torch.Tensor), target["masks"].flip(-1))


def test_resize_scales_boxes_and_crop_drops_boxes_outside():
    image, target = to_tv_tensors(torch.zeros(3, 64, 64), {"boxes": torch.tensor([[8.0, 4, 24, 20], [50, 50, 60, 60]]),
                                                           "labels": torch.tensor([1, 2])})
    out_image, out = detection_transform(v2.Resize((32, 32)))(image, target)
    assert out_image.shape[-2:] == (32, 32)
    torch.testing.assert_close(out["boxes"].as_subclass(torch.Tensor), torch.tensor([[4.0, 2, 12, 10], [25, 25, 30, 30]]))
    _, cropped = detection_transform(v2.CenterCrop(32))(image, target)  # keeps rows/cols 16..47
    torch.testing.assert_close(cropped["boxes"].as_subclass(torch.Tensor), torch.tensor([[0.0, 0, 8, 4]]))
    assert cropped["labels"].tolist() == [1]


