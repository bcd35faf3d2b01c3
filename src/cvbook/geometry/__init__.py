"""Beyond the 2-D image (Part IV, chapter 20): geometry of boxes, scenes and depth, one module per idea.

- :mod:`~cvbook.geometry.rotated`: oriented 2-D boxes and yaw-rotated 3-D boxes, their corners and IoU;
- :mod:`~cvbook.geometry.scene_graph`: spatial relations between detected boxes, a scene graph;
- :mod:`~cvbook.geometry.stereo`: depth from a rectified stereo pair by block matching, and its errors.

Chapter 20's super-resolution network learns to generate pixels and lives in
:mod:`cvbook.generative.superres`.
"""
