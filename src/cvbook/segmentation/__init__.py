"""Part III of the book, semantic and instance segmentation, one module per idea
(``from cvbook.segmentation import fcn``).

- :mod:`~cvbook.segmentation.upsample` (chapter 13): bed of nails, FCN's bilinear kernel, the
  matrix ``U`` of a transposed convolution (one channel or ``C_in → C_out``), pixel shuffle;
- :mod:`~cvbook.segmentation.receptive_field` (chapter 13): receptive fields computed and measured;
- :mod:`~cvbook.segmentation.fcn` (chapter 14): FCN-32s, 16s and 8s over small or ResNet backbones;
- :mod:`~cvbook.segmentation.losses` (chapters 14 and 15): binary, multi-class and multi-label losses, soft
  Dice, U-Net's weight map for touching cells and the weighted cross-entropy;
- :mod:`~cvbook.segmentation.unet` and :mod:`~cvbook.segmentation.augment` (chapter 15): U-Net,
  elastic deformations, averaging over flips and quarter turns;
- :mod:`~cvbook.segmentation.roi_align` and :mod:`~cvbook.segmentation.mask_rcnn` (chapter 16):
  RoIAlign by bilinear sampling, torchvision's Mask R-CNN set up, trained and run, its masks
  pasted back into the image;
- :mod:`~cvbook.segmentation.panoptic` (chapter 16): panoptic fusion of instances and stuff.

The measures are in :mod:`cvbook.metrics.segmentation` (FCN's four, touching pairs kept apart, mask AP)
and :mod:`cvbook.metrics.panoptic`.
"""
