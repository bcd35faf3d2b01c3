r"""The YOLO v1 loss, beside its model (:mod:`cvbook.detection.yolo`).

The YOLO v1 loss (Redmon et al., 2015, as written in the lecture) sums, over the
``S²`` cells ``i`` and the ``B`` predicted boxes ``j`` of every image, five squared
errors:

.. math::

    \lambda_{coord} \sum_{i,j} \mathbf{1}^{obj}_{i,j}\big[(x_i-\hat x_{i,j})^2 + (y_i-\hat y_{i,j})^2
    + (\sqrt{w_i}-\sqrt{\hat w_{i,j}})^2 + (\sqrt{h_i}-\sqrt{\hat h_{i,j}})^2\big]
    + \lambda_{obj} \sum_{i,j} \mathbf{1}^{obj}_{i,j} (c_{i,j}-\hat c_{i,j})^2
    + \lambda_{noobj} \sum_{i,j} (1-\mathbf{1}^{obj}_{i,j})\, \hat c_{i,j}^2
    + \lambda_{classes} \sum_i \mathbf{1}^{obj}_i \sum_c (p_{i,c}-\hat p_{i,c})^2

where :math:`\mathbf{1}^{obj}_i` says that cell ``i`` holds an object centre,
:math:`\mathbf{1}^{obj}_{i,j}` that box ``j`` is the one of that cell whose prediction has
the highest IoU with the object (the "responsible" box), and :math:`c_{i,j}` is that IoU.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cvbook.detection.yolo import cell_box_iou, check_grid

__all__ = ["yolo_v1_loss_terms", "yolo_v1_loss", "responsible_boxes", "yolo_step"]


def _signed_sqrt(x: Tensor, eps: float = 1e-9) -> Tensor:
    """``sign(x)·sqrt(|x| + eps)``: the square root for ``x ≥ 0``, defined (with a finite
    gradient) everywhere, so that a raw network output slightly below zero cannot give NaN."""
    return torch.sign(x) * torch.sqrt(x.abs() + eps)


def responsible_boxes(pred: Tensor, target: Tensor, *, num_boxes: int = 2,
                      num_classes: int = 20) -> tuple[Tensor, Tensor]:
    r"""Which predicted box of each cell answers for the object, and its IoU.

    Args:
        pred: ``(N, S, S, 5B + C)`` predictions, laid out as in
            :func:`cvbook.detection.yolo.encode_grid`.
        target: ``(N, S, S, 5B + C)`` target from :func:`~cvbook.detection.yolo.encode_grid`.

    Returns:
        ``(mask, iou)``, both ``(N, S, S, B)``: ``mask`` is :math:`\mathbf{1}^{obj}_{i,j}`
        (1 for the box with the highest IoU in a cell with an object, the first one on
        ties, 0 elsewhere) and ``iou`` is :math:`c_{i,j}`, the IoU of each predicted box
        with its cell's object (0 in empty cells). Both are constants: no gradient flows
        through them.
    """
    n, s, _ = check_grid(pred, num_boxes, num_classes, "pred")
    if target.shape != pred.shape:
        raise ValueError(f"target has shape {tuple(target.shape)} but pred has {tuple(pred.shape)}; "
                         "encode the ground truth with the same S, B and C.")
    b = num_boxes
    with torch.no_grad():
        pred_boxes = pred[..., : 5 * b].reshape(n, s, s, b, 5)[..., :4]
        truth = target[..., :4].unsqueeze(-2)  # (N, S, S, 1, 4): every slot holds the same box
        has_object = target[..., 4:5]  # (N, S, S, 1)
        iou = cell_box_iou(pred_boxes, truth, s) * has_object
        mask = nn.functional.one_hot(iou.argmax(dim=-1), b).to(pred.dtype) * has_object
    return mask, iou


def yolo_v1_loss_terms(pred: Tensor, target: Tensor, *, num_boxes: int = 2,
                       num_classes: int = 20) -> dict[str, Tensor]:
    r"""The four sums of the YOLO v1 loss, before weighting, averaged over the images.

    Args:
        pred: ``(N, S, S, 5B + C)`` network output: box offsets ``x, y`` in cell units,
            sizes ``w, h`` as fractions of the image, confidences, class probabilities
            (the layout of :func:`cvbook.detection.yolo.encode_grid`).
        target: ``(N, S, S, 5B + C)`` from :func:`~cvbook.detection.yolo.encode_grid`.
        num_boxes: ``B``.
        num_classes: ``C``.

    Returns:
        The four terms, each a scalar tensor, in a dict with the keys ``"coord"`` (centres
        and square-rooted sizes of the responsible boxes), ``"obj"`` (their confidences against the IoU :math:`c_{i,j}`), ``"noobj"``
        (the confidences of all other boxes against 0) and ``"classes"`` (class
        probabilities of the cells with an object). Each is the sum over cells and boxes
        divided by ``N``.
    """
    mask, iou = responsible_boxes(pred, target, num_boxes=num_boxes, num_classes=num_classes)
    n, s = pred.shape[:2]
    b = num_boxes
    p = pred[..., : 5 * b].reshape(n, s, s, b, 5)
    t = target[..., : 5 * b].reshape(n, s, s, b, 5)
    coord = ((t[..., 0] - p[..., 0]) ** 2 + (t[..., 1] - p[..., 1]) ** 2
             + (_signed_sqrt(t[..., 2]) - _signed_sqrt(p[..., 2])) ** 2
             + (_signed_sqrt(t[..., 3]) - _signed_sqrt(p[..., 3])) ** 2)
    has_object = target[..., 4]  # (N, S, S): 1 in cells with an object centre
    class_error = ((target[..., 5 * b:] - pred[..., 5 * b:]) ** 2).sum(dim=-1)
    return {
        "coord": (mask * coord).sum() / n,
        "obj": (mask * (iou - p[..., 4]) ** 2).sum() / n,
        "noobj": ((1 - mask) * p[..., 4] ** 2).sum() / n,
        "classes": (has_object * class_error).sum() / n,
    }


def yolo_v1_loss(
    pred: Tensor,
    target: Tensor,
    *,
    num_boxes: int = 2,
    num_classes: int = 20,
    lambda_coord: float = 5.0,
    lambda_obj: float = 1.0,
    lambda_noobj: float = 0.5,
    lambda_classes: float = 1.0,
) -> Tensor:
    r"""The YOLO v1 loss: the weighted sum of :func:`yolo_v1_loss_terms`.

    The default weights are the paper's: :math:`\lambda_{coord} = 5` makes localisation
    count, :math:`\lambda_{noobj} = 0.5` keeps the many empty cells from drowning the
    few that hold an object.

    Args:
        pred, target: ``(N, S, S, 5B + C)``, see :func:`yolo_v1_loss_terms`.

    Returns:
        The loss, a scalar tensor, summed over cells and boxes and averaged over the ``N`` images.
    """
    terms = yolo_v1_loss_terms(pred, target, num_boxes=num_boxes, num_classes=num_classes)
    return (lambda_coord * terms["coord"] + lambda_obj * terms["obj"]
            + lambda_noobj * terms["noobj"] + lambda_classes * terms["classes"])


def yolo_step(model: nn.Module, batch: tuple[Tensor, Tensor], *, num_boxes: int = 2, num_classes: int = 20,
              lambda_coord: float = 5.0, lambda_obj: float = 1.0, lambda_noobj: float = 0.5,
              lambda_classes: float = 1.0) -> dict[str, Tensor]:
    """One YOLO v1 training step's losses, for :func:`cvbook.train.fit`, each term weighted.

    ``batch`` is ``(images, target grids)``; the result holds the four weighted terms of
    :func:`yolo_v1_loss` under their names, so the training history shows each of them and
    their sum is the loss. Bind the sizes with ``functools.partial(yolo_step, num_boxes=B,
    num_classes=C)``.
    """
    images, target = batch
    terms = yolo_v1_loss_terms(model(images), target, num_boxes=num_boxes, num_classes=num_classes)
    weights = {"coord": lambda_coord, "obj": lambda_obj, "noobj": lambda_noobj, "classes": lambda_classes}
    return {name: weights[name] * value for name, value in terms.items()}
