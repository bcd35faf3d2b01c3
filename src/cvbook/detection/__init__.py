"""Part II of the book, object detection, one module per idea (``from cvbook.detection import ssd``).

- :mod:`~cvbook.detection.sliding` (chapter 7): sliding windows, negative sampling, greedy merging;
- :mod:`~cvbook.detection.anchors` (chapter 9): anchor boxes, their assignment, box offsets;
- :mod:`~cvbook.detection.postprocess`: per-image, per-class NMS for every detector;
- :mod:`~cvbook.detection.ssd` (chapter 10) and :mod:`~cvbook.detection.yolo` with
  :mod:`~cvbook.detection.yolo_loss` (chapter 11): one-stage detectors and their losses;
- :mod:`~cvbook.detection.proposals` (chapter 12): selective search;
- :mod:`~cvbook.detection.mtcnn` (chapters 7 and 12): a trained cascade of small networks over an
  image pyramid, the MTCNN face detector; :mod:`~cvbook.detection.cascade`: its pre-deep-learning
  counterpart, scikit-image's boosted LBP face cascade;
- :mod:`~cvbook.detection.evaluate`: running a detector over a data set, its mAP.
"""
