"""cvbook: the library behind the course book *Computer Vision with Deep Learning*.

One module per concept, in folders that mirror the book's parts:

- the shared core: ``profile`` (quick and full runs), ``data`` (datasets by name, with one
  table of download sources), ``train`` (the one training loop), ``plot`` (figures),
  ``layers`` (building blocks), ``boxes`` (box formats, IoU, NMS), ``metrics``
  (classification, detection and segmentation measures), and the input checks every
  module uses (``cvbook._checks``);
- Part I, classification: ``backbones`` (the classification networks, LeNet to ResNeXt, with
  ``backbones.summary`` and ``backbones.diagram``), ``convolutionize``, ``augment``, ``transfer``,
  ``weights``;
- Part II, detection: ``detection`` (sliding windows, anchors, SSD, YOLO, proposals,
  post-processing, evaluation);
- Part III, segmentation: ``segmentation`` (FCN, U-Net, Mask R-CNN); Part IV, representation and
  generation: ``generative`` (autoencoders, VAE, style transfer, super-resolution) and
  ``geometry`` (chapter 20's oriented boxes, scene graphs and stereo depth);
- around the book: ``widgets`` (interactive figures), ``labs`` (checks and student versions),
  ``grade`` (grading a class's lab submissions).

Lower layers never import higher ones (``data`` never imports ``detection``), and no module
reaches into another's private names.

Chapter map
-----------
The ``cvbook`` modules each chapter and lab imports (``tests/test_layout.py`` checks this list
against the notebooks, and ``tools/api_page.py`` orders the API appendix by it):

- ``book/01_tasks_and_measures``: boxes, data, labs.check, metrics.classification, metrics.segmentation, plot, profile, widgets
- ``book/02_convnets``: backbones.alexnet, backbones.diagram, backbones.inception, backbones.lenet, backbones.nin, backbones.resnet, backbones.resnext, backbones.summary, backbones.vgg, data, labs.check, plot, profile, weights
- ``book/03_training_a_classifier``: backbones.resnet, data, labs.check, metrics.classification, plot, profile, train
- ``book/04_fully_convolutional``: backbones.alexnet, backbones.resnet, backbones.summary, convolutionize, data, labs.check, profile
- ``book/05_augmentation``: augment, backbones.resnet, data, labs.check, metrics.classification, plot, profile, train
- ``book/06_transfer_learning``: backbones.resnet, backbones.summary, data, labs.check, metrics.classification, plot, profile, train, transfer, weights
- ``book/07_boxes_sliding_windows_nms``: boxes, data, data.transforms, detection.cascade, detection.mtcnn, detection.sliding, labs.check, plot, profile, train, widgets
- ``book/08_evaluating_detectors``: boxes, data, labs.check, metrics.detection, plot, profile
- ``book/09_anchor_boxes``: boxes, data, detection.anchors, detection.offsets, detection.sliding, labs.check, plot, profile
- ``book/10_ssd``: data, data.voc, detection.anchors, detection.evaluate, detection.ssd, labs.check, plot, profile, train
- ``book/11_yolo``: backbones.summary, boxes, data, detection.yolo, detection.yolo_loss, labs.check, metrics.detection, plot, profile, train
- ``book/12_region_based``: data, data.pennfudan, detection.cascade, detection.mtcnn, detection.proposals, detection.yolo, detection.yolo_loss, labs.check, layers, metrics.detection, plot, profile, train
- ``book/13_upsampling``: backbones.summary, labs.check, profile, segmentation.receptive_field, segmentation.upsample, widgets
- ``book/14_fcn_segmentation``: backbones.diagram, backbones.summary, data, data.voc, labs.check, metrics.segmentation, plot, profile, segmentation.fcn, segmentation.losses, segmentation.upsample, train
- ``book/15_unet``: backbones.diagram, backbones.summary, data, labs.check, metrics.segmentation, profile, segmentation.augment, segmentation.losses, segmentation.unet, train
- ``book/16_instance_segmentation``: data, labs.check, metrics.detection, metrics.segmentation, plot, profile, segmentation.mask_rcnn, segmentation.panoptic, segmentation.roi_align, train
- ``book/17_autoencoders``: data, generative.autoencoder, generative.compression, labs.check, plot, profile, train
- ``book/18_variational_autoencoders``: data, generative.disentangle, generative.vae, labs.check, plot, profile, train
- ``book/19_style_transfer``: data, generative.adain, generative.style, generative.style_lbfgs, labs.check, profile, segmentation.receptive_field
- ``book/20_beyond_2d``: data, generative.compression, generative.superres, geometry.rotated, geometry.scene_graph, geometry.stereo, labs.check, plot, profile, train
- ``book/grading``: grade.source, profile
- ``book/interactive_figures``: profile, widgets
- ``labs/solutions/lab01_measures``: boxes, labs, labs.check, profile
- ``labs/solutions/lab02_resnet``: backbones.resnet, data, labs, metrics.classification, profile, train
- ``labs/solutions/lab03_augment_finetune``: data, labs, metrics.classification, profile, train, weights
- ``labs/solutions/lab04_iou_nms_map``: labs, labs.check, metrics.detection, profile
- ``labs/solutions/lab05_yolo_loss``: detection.yolo_loss, labs, labs.check, profile
- ``labs/solutions/lab06_train_detector``: data, detection.anchors, detection.evaluate, detection.ssd, labs, labs.check, profile, train
- ``labs/solutions/lab07_transposed_convolution``: labs, labs.check, profile, segmentation.upsample
- ``labs/solutions/lab08_segmentation_metrics_unet``: data, labs, labs.check, metrics.segmentation, profile, segmentation.losses, segmentation.unet, train
- ``labs/solutions/lab09_vae``: data, generative.vae, labs, labs.check, profile, train
- ``labs/solutions/lab10_style_transfer``: data, generative.style, labs, labs.check, profile, train
- ``labs/solutions/lab11_convolutionize``: backbones.lenet, backbones.summary, convolutionize, data, detection.sliding, labs, labs.check, plot, profile, weights
- ``labs/solutions/lab12_anchors``: data, detection.anchors, detection.offsets, labs, labs.check, plot, profile
- ``labs/solutions/lab13_roi_proposals``: data, detection.proposals, labs, labs.check, plot, profile
- ``labs/solutions/lab14_training_well``: labs, labs.check, profile, train
- ``labs/solutions/lab15_instance_segmentation``: labs, labs.check, metrics.detection, profile
- ``labs/solutions/lab16_autoencoders``: data, generative.autoencoder, labs, labs.check, profile, train
- ``labs/solutions/lab17_stereo``: geometry.stereo, labs, labs.check, profile
"""

__version__ = "0.1.0"
