"""Face detection: resize for a fixed-size detector, its family's decoder (decoders/), NMS, face choice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from .config import DetectorSpec
from .decoders import decoder_for
from .errors import ConfigError
from .resample import area_downscale, resize_linear


# No face fits in fewer pixels than this (the smallest anchors: YuNet 8 px, RetinaFace 16 px):
# such images skip the detector, and the rotation retries, entirely.
MIN_IMAGE_SIDE = 12


@dataclass(frozen=True)
class Face:
    """One detection in original-image coordinates."""

    box: tuple[float, float, float, float]  # x, y, width, height
    score: float
    landmarks: np.ndarray  # 5x2: image-left eye, image-right eye, nose, image-left mouth, image-right mouth

    def scaled(self, factor: float) -> "Face":
        return Face(tuple(v * factor for v in self.box), self.score, self.landmarks * factor)

    def shifted(self, dx: float, dy: float) -> "Face":
        return Face((self.box[0] + dx, self.box[1] + dy, self.box[2], self.box[3]), self.score,
                    self.landmarks + np.array([dx, dy], np.float32))

    def rotated_back(self, turns: int, width: int, height: int) -> "Face":
        """Map a face found in an image turned `turns` x 90 degrees clockwise back to the
        original (width x height) image."""
        pts = np.vstack([self.landmarks, [[self.box[0], self.box[1]],
                                          [self.box[0] + self.box[2], self.box[1] + self.box[3]]]])
        pts = unrotate_points(pts, turns, width, height)
        (x0, y0), (x1, y1) = pts[5], pts[6]
        box = (min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))
        return Face(box, self.score, pts[:5])


def unrotate_points(pts: np.ndarray, turns: int, width: int, height: int) -> np.ndarray:
    """Points of an image rotated clockwise by turns*90 degrees, in the original's coordinates."""
    x, y = pts[:, 0], pts[:, 1]
    turns %= 4
    if turns == 1:    # rotated (H x W): (x', y') = (H-1-y, x)
        return np.stack([y, height - 1 - x], axis=1)
    if turns == 2:
        return np.stack([width - 1 - x, height - 1 - y], axis=1)
    if turns == 3:    # (x', y') = (y, W-1-x)
        return np.stack([width - 1 - y, x], axis=1)
    return pts.copy()


def shrink_to_fit(image: np.ndarray, size: tuple[int, int], downscale: str) -> tuple[np.ndarray, float]:
    """Downscale (never enlarge) so the image fits size (w, h) in either orientation."""
    h, w = image.shape[:2]
    side = max(size)
    scale = min(side / max(w, h), 1.0)
    if scale >= 1.0:
        return image, 1.0
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    return downscale_to(image, (nw, nh), downscale), scale


def downscale_to(image: np.ndarray, size: tuple[int, int], downscale: str) -> np.ndarray:
    """Shrink image to size (w, h): area averaging ("area") or bilinear ("linear").

    Area: exact 2x box-averaging steps while the image is at least twice the target,
    then INTER_AREA for the remaining factor (< 2), as OpenCV computes each step. A
    one-step INTER_AREA was slow for large non-integer factors (3000x4500 -> 427x640
    took ~3.6x the time in OpenCV); the composite filter is still a box average over
    the same footprint.
    """
    if downscale != "area":
        return resize_linear(image, size)
    return area_downscale(image, size)


def letterbox(image: np.ndarray, size: tuple[int, int], downscale: str) -> tuple[np.ndarray, float]:
    """Fit image into size (w, h) without distortion, padding right/bottom with black.

    Large images are shrunk with area averaging (bilinear lost ~1.5 points on
    mugshots); small ones are not enlarged, since YuNet finds small faces
    better than faces that fill its whole input.
    """
    h, w = image.shape[:2]
    tw, th = size
    scale = min(tw / w, th / h, 1.0)
    nw, nh = max(1, min(tw, round(w * scale))), max(1, min(th, round(h * scale)))
    if (nw, nh) != (w, h):
        image = downscale_to(image, (nw, nh), downscale)
    canvas = np.zeros((th, tw, 3), dtype=np.uint8)
    canvas[:nh, :nw] = image
    return canvas, scale


def ious(box, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one xywh box with each row of boxes (Nx4 xywh)."""
    x0, y0 = boxes[:, 0], boxes[:, 1]
    iw = np.maximum(0, np.minimum(box[0] + box[2], x0 + boxes[:, 2]) - np.maximum(box[0], x0))
    ih = np.maximum(0, np.minimum(box[1] + box[3], y0 + boxes[:, 3]) - np.maximum(box[1], y0))
    inter = iw * ih
    area = max(box[2], 0) * max(box[3], 0)
    return inter / np.maximum(area + np.maximum(boxes[:, 2], 0) * np.maximum(boxes[:, 3], 0) - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, top_k: int) -> list[int]:
    """Greedy non-maximum suppression on xywh boxes; indices best first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < top_k:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        order = rest[ious(boxes[i], boxes[rest]) <= iou_threshold]
    return keep


# A second detection's face is the first's when their boxes overlap at least this much (IoU).
# The 102 small faces of the shared sets that get refined overlapped their second detection by
# 0.71 at least (median 0.91); two faces side by side overlap by little or nothing.
SAME_FACE_IOU = 0.5


def same_face(face: Face, found: list[Face]) -> Face | None:
    """The face of `found` (same coordinates) that is `face` found again: the one overlapping it
    most, if by SAME_FACE_IOU, else the one whose box holds face's centre and whose centre lies in
    face's box; None when no face qualifies. Never the best score alone: a neighbour in the same
    region may score higher."""
    if not found:
        return None
    overlaps = ious(face.box, np.array([g.box for g in found], np.float64))
    best = int(np.argmax(overlaps))
    if overlaps[best] >= SAME_FACE_IOU:
        return found[best]

    def centre_in(p: Face, q: Face) -> bool:
        cx, cy = p.box[0] + p.box[2] / 2, p.box[1] + p.box[3] / 2
        return q.box[0] <= cx <= q.box[0] + q.box[2] and q.box[1] <= cy <= q.box[1] + q.box[3]

    mutual = [i for i, g in enumerate(found) if centre_in(face, g) and centre_in(g, face)]
    return found[max(mutual, key=lambda i: overlaps[i])] if mutual else None


def choose_face(faces: list[Face], width: int, height: int, rule: str) -> int:
    """Index of the face a 1:1 template should describe.

    "central": the largest face near the image centre (bystanders in news and
    web photos often out-score the subject); "score": the detector's best.
    """
    if rule == "score":
        return int(np.argmax([f.score for f in faces]))
    half_diag = 0.5 * float(np.hypot(width, height))
    best, best_val = 0, -np.inf
    for i, f in enumerate(faces):
        x, y, w, h = f.box
        d = np.hypot(x + w / 2 - width / 2, y + h / 2 - height / 2) / half_diag
        val = np.sqrt(max(w * h, 0.0)) * (1.0 - min(d, 1.0)) ** 2 * (0.5 + 0.5 * f.score)
        if val > best_val:
            best, best_val = i, val
    return best


class Detector:
    """A detector of any decoder family (spec.kind) compiled at one or more fixed input sizes,
    around an inference callable per size (one callable: input_size only)."""

    def __init__(self, spec: DetectorSpec, infer: Callable[[np.ndarray], dict[str, np.ndarray]]
                 | Mapping[tuple[int, int], Callable[[np.ndarray], dict[str, np.ndarray]]],
                 downscale: str = "area"):
        self.spec, self.downscale = spec, downscale
        self.decoder = decoder_for(spec.kind)
        self.infers = dict(infer) if isinstance(infer, Mapping) else {tuple(spec.input_size): infer}
        missing = [s for s in spec.sizes() if tuple(s) not in self.infers]
        if missing:
            raise ConfigError(f"no detector model for input size(s) {missing}")
        self.sizes = [tuple(s) for s in spec.sizes()]

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """The smallest compiled input size that holds a width x height image without shrinking
        it; input_size when none does (letterbox then shrinks it, as it always did)."""
        return next((s for s in self.sizes if width <= s[0] and height <= s[1]), tuple(self.spec.input_size))

    def detect(self, image: np.ndarray, threshold: float | None = None) -> list[Face]:
        """All faces above threshold (default: the spec's), best score first."""
        spec = self.spec
        threshold = spec.score_threshold if threshold is None else threshold
        size = self.size_for(image.shape[1], image.shape[0])
        canvas, scale = letterbox(image, size, self.downscale)
        out = self.infers[size](canvas)
        boxes, scores, kps = self.decoder.decode(out, spec, size, threshold)
        if scores.size == 0:
            return []
        keep = nms(boxes, scores, spec.nms_threshold, spec.top_k)
        return [Face(tuple(float(v) / scale for v in boxes[i]), float(scores[i]), kps[i] / scale)
                for i in keep]

    def detect_with_fallback(self, image: np.ndarray) -> list[Face]:
        """Faces above score_threshold, else those above the lower fallback_threshold.

        The lower threshold recovers tight crops and small grey faces; one
        detector pass at the lower threshold yields both sets.
        """
        if min(image.shape[:2]) < MIN_IMAGE_SIDE:
            return []
        faces = self.detect(image, min(self.spec.fallback_threshold, self.spec.score_threshold))
        strong = [f for f in faces if f.score >= self.spec.score_threshold]
        return strong or faces
