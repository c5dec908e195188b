"""dlib's face chip (get_face_chip_details) as a 5-point alignment_template for our detectors' landmarks.

dlib aligns a face for its ResNet with get_face_chip_details(shape, 150, 0.25)
(dlib/image_transforms/interpolation.h): a similarity fit of the face's landmarks onto
dlib's mean face shape, each mean point p (in a unit square spanning the face) placed
at (padding + p) / (2 padding + 1) * size in the chip. Its 5-point branch uses the
points of dlib's 5-point predictor (eye corners and the base of the nose), which our
detectors do not give; its 68-point branch uses the mean 68-point shape below, which
holds the points ours do give: each eye's centre as the mean of its 6 points (36-41 the
subject's right eye, 42-47 the left), the nose tip (30), the mouth corners (48 the
subject's right, 54 the left). Their images under the padding mapping are the template,
in our landmark order (right eye, left eye, nose, right mouth corner, left mouth corner).
"""

from __future__ import annotations

import numpy as np

# dlib's mean_face_shape_x / _y: the mean positions of the 68-point shape's points 17-67.
MEAN_FACE_X = (
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
    0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
    0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
    0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
    0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
    0.553364, 0.490127, 0.42689)
MEAN_FACE_Y = (
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
    0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
    0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733,
    0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
    0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
    0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
    0.784792, 0.824182, 0.831803, 0.824182)
FIRST_POINT = 17  # MEAN_FACE_*[0] is point 17

# Our five landmarks as sets of 68-point indices, each point the mean of its set.
FIVE_POINTS = (range(36, 42), range(42, 48), (30,), (48,), (54,))


def chip_template(size: int = 150, padding: float = 0.25) -> np.ndarray:
    """The five landmarks' positions (x, y) in dlib's size x size chip with that padding."""
    mean = np.stack([MEAN_FACE_X, MEAN_FACE_Y], axis=1)
    unit = np.array([mean[[i - FIRST_POINT for i in points]].mean(axis=0) for points in FIVE_POINTS])
    return (padding + unit) / (2 * padding + 1) * size
