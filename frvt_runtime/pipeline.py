"""The face pipeline: image -> faces -> aligned crops -> embeddings -> template bytes + eye pairs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import RuntimeSettings
from .errors import FrvtError, ReturnCode
from . import template
from .detect import Detector, Face, choose_face, same_face, shrink_to_fit
from .embed import Recognizer
from .resample import resize_linear

ROTATIONS = (1, 3, 2)  # clockwise quarter turns tried when an upright image has no face


@dataclass(frozen=True)
class EyePair:
    """NIST's EyePair: "left" is the SUBJECT's left eye (image right on a frontal photo)."""

    left_assigned: bool = False
    right_assigned: bool = False
    xleft: int = 0
    yleft: int = 0
    xright: int = 0
    yright: int = 0


UNASSIGNED = EyePair()


def eye_pair(face: Face, width: int, height: int) -> EyePair:
    """Landmark 0 is the image-left eye (subject's right), landmark 1 the subject's left."""
    def point(p):
        x, y = float(p[0]), float(p[1])
        ok = np.isfinite(x) and np.isfinite(y) and 0 <= x < width and 0 <= y < height
        return (bool(ok), int(round(x)) if ok else 0, int(round(y)) if ok else 0)

    lok, xl, yl = point(face.landmarks[1])
    rok, xr, yr = point(face.landmarks[0])
    return EyePair(lok, rok, xl, yl, xr, yr)


@dataclass
class Result:
    """What one template call produced, with a NIST return code and a reason when not Success."""

    templates: list[bytes]
    eyes: list[EyePair]
    code: ReturnCode = ReturnCode.Success
    info: str = ""


class FacePipeline:
    def __init__(self, settings: RuntimeSettings, detector: Detector, recognizer: Recognizer):
        self.settings, self.detector, self.recognizer = settings, detector, recognizer
        self.stage_ms: dict[str, float] = {}

    # -- construction -------------------------------------------------------
    @classmethod
    def from_config_dir(cls, config_dir: Path, runtime_dir: Path | None = None) -> "FacePipeline":
        """The submission path: compiled TVM models and settings from a config/ folder."""
        from .config_dir import load_config_dir

        return load_config_dir(cls, Path(config_dir), runtime_dir)

    # -- stages -------------------------------------------------------------
    def _timed(self, stage: str, fn, *args):
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.stage_ms[stage] = self.stage_ms.get(stage, 0.0) + (time.perf_counter() - t0) * 1e3

    def find_faces(self, image: np.ndarray) -> list[Face]:
        """Faces in original coordinates, from the orientation whose best face scores highest,
        small upright ones with refined landmarks (refine_small)."""
        faces, upright = self.detect_oriented(image)
        return self.refined(image, faces) if upright else faces

    def detect_oriented(self, image: np.ndarray) -> tuple[list[Face], bool]:
        """Faces in original coordinates from the orientation whose best face scores highest,
        and whether that is upright; landmarks not yet refined.

        YuNet also "finds" turned faces, with upright-looking but wrong landmarks
        (an upside-down portrait scored 0.88), so geometry cannot tell the
        orientation. Only when the upright best score is below rotation_score are
        the other three quarter turns tried.
        """
        # Shrink once: every orientation is tried on the small copy (large photos
        # were resized and rotated at full size for each orientation before).
        small, scale = self._timed("resize", shrink_to_fit, image, self.detector.spec.input_size,
                                   self.settings.pipeline.downscale)
        faces = self._timed("detect", self.detector.detect_with_fallback, small)
        cfg = self.settings.pipeline
        best = max((f.score for f in faces), default=0.0)
        upright = True
        if cfg.try_rotations and best < cfg.rotation_score:
            h, w = small.shape[:2]
            for turns in ROTATIONS:
                turned = np.ascontiguousarray(np.rot90(small, k=-turns))
                found = self._timed("detect", self.detector.detect_with_fallback, turned)
                top = max((f.score for f in found), default=0.0)
                if top > best:
                    best, faces, upright = top, [f.rotated_back(turns, w, h) for f in found], False
        return ([f.scaled(1.0 / scale) for f in faces] if scale != 1.0 else faces), upright

    def refined(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        """faces, those under small_face_px with refined landmarks (one detector run each)."""
        cfg = self.settings.pipeline
        if cfg.small_face_px and any(max(f.box[2:]) < cfg.small_face_px for f in faces):
            return self._timed("refine", self.refine_small, image, faces)
        return faces

    def refine_small(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        """Landmarks of faces under small_face_px, from a second detection on their region enlarged
        to small_face_zoom_px: a 40-60 px face lands in the detector at a scale whose landmarks are
        coarse (ORL, 92x112: 99.36% -> 99.58% at the threshold; no other shared set changes).
        Box and score stay those of the first detection, which chose the face; the landmarks come
        from the second detection's face that is the same face (same_face), never simply its best
        score: the region, twice the face's size, can hold a neighbour that scores higher."""
        cfg = self.settings.pipeline
        h, w = image.shape[:2]
        out = []
        for f in faces:
            side = max(f.box[2], f.box[3])
            if side >= cfg.small_face_px or side <= 0:
                out.append(f)
                continue
            cx, cy = f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2
            x0, y0 = int(max(0, cx - side)), int(max(0, cy - side))
            x1, y1 = int(min(w, cx + side)), int(min(h, cy + side))
            zoom = cfg.small_face_zoom_px / side
            crop = np.ascontiguousarray(image[y0:y1, x0:x1])
            # At most twice the zoom target a side (the region's integer bounds can add a pixel),
            # so that the region always fits the detector size compiled for it (e.g. 320 for 160).
            cap = 2 * cfg.small_face_zoom_px
            big = resize_linear(crop, (min(cap, max(1, round(crop.shape[1] * zoom))),
                                       min(cap, max(1, round(crop.shape[0] * zoom)))))
            found = [g.scaled(1.0 / zoom).shifted(x0, y0) for g in self.detector.detect_with_fallback(big)]
            same = same_face(f, found)
            out.append(f if same is None else Face(f.box, f.score, same.landmarks))
        return out

    def embed(self, image: np.ndarray, face: Face) -> np.ndarray:
        crop = self._timed("align", self.recognizer.align, image, face.landmarks)
        return self._timed("embed", self.recognizer.embed_aligned, crop)

    # -- the two template calls of FRVT 1:1 ---------------------------------
    def create_template(self, images: list[np.ndarray | FrvtError]) -> Result:
        """One template from one or more images of one person; one EyePair per image.

        An entry may be an error raised while decoding that image: it counts as
        an image without a face. No face anywhere gives a failure template.
        """
        self.stage_ms = {}
        embeddings, eyes, problems = [], [], []
        for i, image in enumerate(images):
            if isinstance(image, FrvtError):
                eyes.append(UNASSIGNED)
                problems.append((image.return_code, f"image {i}: {image}"))
                continue
            try:
                eye, embedding = self._one_image(image)
            except MemoryError:
                raise  # the whole call fails with NIST's MemoryError code
            except Exception as exc:  # noqa: BLE001  one image's failure must not fail the others
                code = exc.return_code if isinstance(exc, FrvtError) else ReturnCode.UnknownError
                eyes.append(UNASSIGNED)
                problems.append((code, f"image {i}: {type(exc).__name__}: {exc}"))
                continue
            if embedding is None:
                eyes.append(UNASSIGNED)
                problems.append((ReturnCode.FaceDetectionError, f"image {i}: no face found"))
                continue
            eyes.append(eye)
            embeddings.append(embedding)
        tmpl = template.encode(template.combine(embeddings), n_images=len(embeddings))
        if embeddings:
            return Result([tmpl], eyes)
        code, info = problems[0] if problems else (ReturnCode.RefuseInput, "no images given")
        return Result([tmpl], eyes, code, "; ".join(p[1] for p in problems) or info)

    def _one_image(self, image: np.ndarray) -> tuple[EyePair, np.ndarray | None]:
        """The chosen face's eyes and embedding; (UNASSIGNED, None) when no face is found."""
        faces, upright = self.detect_oriented(image)
        if not faces:
            return UNASSIGNED, None
        h, w = image.shape[:2]
        face = faces[choose_face(faces, w, h, self.settings.pipeline.face_selection)]
        # Only the chosen face is refined: refinement keeps boxes and scores, so the choice
        # is the same, and each face in the background would cost a detector run.
        face = self.refined(image, [face])[0] if upright else face
        return eye_pair(face, w, h), self.embed(image, face)

    def create_multi_person(self, image: np.ndarray | FrvtError) -> Result:
        """One template and EyePair per person found; a single failure template when none is."""
        self.stage_ms = {}
        if isinstance(image, FrvtError):
            return Result([template.encode(None)], [UNASSIGNED], image.return_code, str(image))
        faces = self.find_faces(image)
        if not faces:
            return Result([template.encode(None)], [UNASSIGNED], ReturnCode.FaceDetectionError,
                          "no face found")
        h, w = image.shape[:2]
        faces.sort(key=lambda f: (f.box[0], f.box[1]))  # stable, reading order
        return Result([template.encode(self.embed(image, f)) for f in faces],
                      [eye_pair(f, w, h) for f in faces])

    # -- convenience for tools ----------------------------------------------
    def embedding_of(self, image: np.ndarray) -> np.ndarray | None:
        """The chosen face's embedding, or None: what eval and parity checks compare."""
        tmpl = template.decode(self.create_template([image]).templates[0])
        return tmpl.embedding
