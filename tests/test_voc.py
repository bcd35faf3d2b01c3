"""Pascal VOC annotations (cvbook.data.voc): one pixel convention, against torchvision's parser."""
import xml.etree.ElementTree as ET

import pytest
import torch
from torchvision.datasets import VOCDetection

from cvbook.data.voc import parse_voc_xml, voc_target, voc_transforms

XML = """<annotation><filename>n02123394_2084</filename>
<size><width>500</width><height>375</height><depth>3</depth></size>
<object><name>n02123394</name><truncated>0</truncated><difficult>0</difficult>
<bndbox><xmin>265</xmin><ymin>185</ymin><xmax>470</xmax><ymax>374</ymax></bndbox></object>
<object><name>n02123394</name><truncated>1</truncated><difficult>1</difficult>
<bndbox><xmin>90</xmin><ymin>1</ymin><xmax>323</xmax><ymax>353</ymax></bndbox></object></annotation>"""


def test_parse_matches_torchvision_with_one_based_pixels_as_edges():
    ann = parse_voc_xml(XML)
    ref = VOCDetection.parse_voc_xml(ET.fromstring(XML))["annotation"]
    raw = torch.tensor([[float(o["bndbox"][k]) for k in ("xmin", "ymin", "xmax", "ymax")] for o in ref["object"]])
    # VOC counts pixels from 1, both ends included: x1 = xmin - 1, x2 = xmax (width = pixel count)
    assert torch.equal(ann["boxes"], raw - torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert torch.equal(ann["boxes"], voc_target({"annotation": ref}, class_names=["n02123394"])["boxes"])
    assert ann["names"] == ["n02123394"] * 2
    assert ann["size"] == (375, 500, 3)
    assert ann["difficult"].tolist() == [False, True] and ann["truncated"].tolist() == [False, True]


@pytest.mark.parametrize("bad, message", [
    (XML.replace("<xmax>470</xmax>", "<xmax>200</xmax>"), "xmax < xmin"),
    (XML.replace("<ymin>185</ymin>", ""), "missing <ymin>"),
    (XML[:-20], "not well-formed"),
    ("<root/>", "expected an <annotation>"),
])
def test_malformed_annotations_say_what_is_wrong(bad, message):
    with pytest.raises(ValueError, match=message):
        parse_voc_xml(bad)


def test_voc_target_converts_one_based_pixels_to_edges():
    ann = {"annotation": {"object": [
        {"name": "dog", "difficult": "0", "bndbox": {"xmin": "1", "ymin": "5", "xmax": "100", "ymax": "80"}},
        {"name": "person", "difficult": "1", "bndbox": {"xmin": "10", "ymin": "20", "xmax": "30", "ymax": "40"}},
    ]}}
    target = voc_target(ann)
    assert target["boxes"].tolist() == [[0.0, 4.0, 100.0, 80.0], [9.0, 19.0, 30.0, 40.0]]
    assert target["labels"].tolist() == [11, 14] and target["difficult"].tolist() == [False, True]
    assert voc_target(ann, keep_difficult=False)["labels"].tolist() == [11]
    with pytest.raises(ValueError, match="not in class_names"):
        voc_target({"annotation": {"object": {"name": "unicorn", "bndbox": {}}}})
    with pytest.raises(ValueError, match="VOCDetection"):
        voc_target({"boxes": []})


def test_detection_transform_takes_vocdetection_annotations():
    """A pipeline built with detection_transform reads VOCDetection's raw (PIL, {"annotation": ...}) items."""
    from PIL import Image
    from torchvision.transforms import v2

    from cvbook.data.transforms import detection_transform

    ann = {"annotation": {"object": [
        {"name": "dog", "difficult": "0", "bndbox": {"xmin": "1", "ymin": "5", "xmax": "100", "ymax": "80"}}]}}
    flip = detection_transform(v2.ToDtype(torch.float32, scale=True), v2.RandomHorizontalFlip(p=1.0))
    image, target = flip(Image.new("RGB", (120, 90)), ann)
    assert image.shape == (3, 90, 120) and image.dtype == torch.float32
    assert target["boxes"].tolist() == [[120 - 100.0, 4.0, 120 - 0.0, 80.0]] and target["labels"].tolist() == [11]
    assert tuple(target["boxes"].canvas_size) == (90, 120)


# --- chapter 7's from-scratch NMS, as the benchmark loads it --------------------------------

def test_notebook_greedy_nms_equals_torchvision():
    import importlib.util
    from pathlib import Path

    from torchvision.ops import nms

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "greedy_nms.py"
    spec = importlib.util.spec_from_file_location("greedy_nms_benchmark", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    greedy_nms = bench.load_greedy_nms()
    g = torch.Generator().manual_seed(3)
    for n, canvas in [(1, 10.0), (150, 60.0), (400, 300.0)]:
        xy = torch.rand(n, 2, generator=g) * canvas
        boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 40 + 1], dim=1).round()
        scores = torch.randint(0, 4, (n,), generator=g).float()  # ties
        for threshold in (0.3, 0.5, 0.7):
            assert torch.equal(greedy_nms(boxes, scores, threshold), nms(boxes, scores, threshold))


def test_voc_transforms_move_the_boxes():
    from PIL import Image

    annotation = {"annotation": {"object": [
        {"name": "dog", "difficult": "0", "bndbox": {"xmin": "11", "ymin": "21", "xmax": "50", "ymax": "60"}}]}}
    image, target = voc_transforms(64, train=False)(Image.new("RGB", (100, 80)), annotation)
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    # Pixel edges (10, 20, 50, 60) scaled by 64/100 in x and 64/80 in y.
    torch.testing.assert_close(target["boxes"].as_subclass(torch.Tensor), torch.tensor([[6.4, 16.0, 32.0, 48.0]]))
    assert target["labels"].tolist() == [11]  # "dog" in VOC's class order
    torch.manual_seed(0)
    image, target = voc_transforms(64, train=True)(Image.new("RGB", (100, 80)), annotation)
    assert image.shape == (3, 64, 64)
    b = target["boxes"].as_subclass(torch.Tensor)
    assert len(b) == len(target["labels"]) and ((b >= 0) & (b <= 64)).all()
