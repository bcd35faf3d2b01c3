import xml.etree.ElementTree as ET

import pytest
import torch
from torchvision.datasets import VOCDetection

from cvbook.data import parse_voc_xml

XML = """<annotation><filename>n02123394_2084</filename>
<size><width>500</width><height>375</height><depth>3</depth></size>
<object><name>n02123394</name><truncated>0</truncated><difficult>0</difficult>
<bndbox><xmin>265</xmin><ymin>185</ymin><xmax>470</xmax><ymax>374</ymax></bndbox></object>
<object><name>n02123394</name><truncated>1</truncated><difficult>1</difficult>
<bndbox><xmin>90</xmin><ymin>1</ymin><xmax>323</xmax><ymax>353</ymax></bndbox></object></annotation>"""


def test_parse_matches_torchvision():
    ann = parse_voc_xml(XML)
    ref = VOCDetection.parse_voc_xml(ET.fromstring(XML))["annotation"]
    expected = torch.tensor([[float(o["bndbox"][k]) for k in ("xmin", "ymin", "xmax", "ymax")] for o in ref["object"]])
    assert torch.equal(ann["boxes"], expected)
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
