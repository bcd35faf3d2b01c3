"""Classification backbones of Part I, one module per family (``from cvbook.backbones import resnet``).

LeNet, AlexNet, NiN, VGG, Inception, ResNet and ResNeXt, with :mod:`~cvbook.backbones.summary`
(parameters, multiply-adds, layer shapes) and :mod:`~cvbook.backbones.diagram` (figures of a
forward pass). Detectors live in :mod:`cvbook.detection` (SSD, YOLO) and segmentation networks
in :mod:`cvbook.segmentation` (FCN, U-Net); they build on these backbones or on torchvision's.
"""
