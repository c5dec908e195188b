"""The face pipeline on real photos (onnxruntime reference backend): identity, eyes, rotations, grey."""

import numpy as np
import pytest

from frvt_runtime.errors import RefuseInput, ReturnCode
from frvt_runtime import template as T
from frvt_runtime.image import from_raw
from frvt_submission.imagefile import read_image


def _emb(p, img):
    return T.decode(p.create_template([img]).templates[0]).embedding


def test_same_and_different_people(reference_pipeline, test_images):
    p = reference_pipeline
    o1, o2, b = (_emb(p, read_image(test_images / n)) for n in ("obama.jpg", "obama3.jpg", "biden.jpg"))
    thr = p.settings.recognizer.same_threshold
    assert o1 @ o2 > thr + 0.2
    assert o1 @ b < thr - 0.1


def test_eye_pair_is_subjects_left_on_image_right(reference_pipeline, test_images):
    img = read_image(test_images / "obama.jpg")
    r = reference_pipeline.create_template([img])
    e = r.eyes[0]
    assert r.code == ReturnCode.Success and e.left_assigned and e.right_assigned
    assert e.xleft > e.xright  # subject's left eye is on the image's right
    assert abs(e.yleft - e.yright) < 0.2 * (e.xleft - e.xright)


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_rotated_faces_are_found_and_mapped_back(reference_pipeline, test_images, turns):
    img = read_image(test_images / "obama.jpg")
    upright = reference_pipeline.create_template([img])
    turned = np.ascontiguousarray(np.rot90(img, k=-turns))
    r = reference_pipeline.create_template([turned])
    assert r.code == ReturnCode.Success
    cos = float(T.decode(r.templates[0]).embedding @ T.decode(upright.templates[0]).embedding)
    assert cos > 0.95
    # the subject's eyes keep their identity: the left-right vector turns with the image
    e, u = r.eyes[0], upright.eyes[0]
    v = np.array([e.xleft - e.xright, e.yleft - e.yright], float)
    w = np.array([u.xleft - u.xright, u.yleft - u.yright], float)
    ang = np.degrees(np.arctan2(v[1], v[0]) - np.arctan2(w[1], w[0])) % 360
    assert min(abs(ang - 90 * turns), 360 - abs(ang - 90 * turns)) < 10


def test_grey_and_raw_buffers(reference_pipeline, test_images):
    img = read_image(test_images / "obama2.jpg")
    grey = img.mean(axis=2).astype(np.uint8)
    raw = from_raw(grey.shape[1], grey.shape[0], 8, grey.tobytes())
    assert raw.shape == img.shape
    e_grey, e_col = _emb(reference_pipeline, raw), _emb(reference_pipeline, img)
    assert e_grey @ e_col > 0.8


def test_blank_image_gives_failure_template(reference_pipeline):
    r = reference_pipeline.create_template([np.zeros((480, 640, 3), np.uint8)])
    assert r.code == ReturnCode.FaceDetectionError
    assert T.decode(r.templates[0]).failed and not r.eyes[0].left_assigned


def test_multi_image_template_with_one_bad_image(reference_pipeline, test_images):
    imgs = [read_image(test_images / "obama.jpg"), RefuseInput("bad"), read_image(test_images / "obama3.jpg")]
    r = reference_pipeline.create_template(imgs)
    assert r.code == ReturnCode.Success and len(r.eyes) == 3
    assert T.decode(r.templates[0]).n_images == 2 and not r.eyes[1].left_assigned


def test_an_image_that_fails_inside_the_pipeline_leaves_the_others(reference_pipeline, test_images):
    """An exception while embedding one image of several (here the recognizer raising ValueError
    on the second image) leaves that image's eyes unassigned; the template comes from the others.
    Only when every image fails does the call fail, with the first image's reason."""
    from frvt_runtime.pipeline import FacePipeline

    p = reference_pipeline
    calls = []

    class Flaky:
        spec = p.recognizer.spec
        align = p.recognizer.align

        def embed_aligned(self, crop):
            calls.append(1)
            if len(calls) == 2:
                raise ValueError("SVD did not converge")
            return p.recognizer.embed_aligned(crop)

    q = FacePipeline(p.settings, p.detector, Flaky())
    imgs = [read_image(test_images / n) for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    r = q.create_template(imgs)
    assert r.code == ReturnCode.Success and len(r.eyes) == 3
    assert T.decode(r.templates[0]).n_images == 2
    assert r.eyes[0].left_assigned and not r.eyes[1].left_assigned and r.eyes[2].left_assigned
    want = p.create_template([imgs[0], imgs[2]]).templates[0]
    assert r.templates[0] == want
    calls[:] = [1]  # the next call raises
    r = q.create_template(imgs[1:2])
    assert r.code == ReturnCode.UnknownError and "image 0: ValueError: SVD did not converge" in r.info
    assert T.decode(r.templates[0]).failed


@pytest.mark.parametrize("args", [(0, 5, 24, b"x" * 100), (5, 5, 16, b"x" * 100), (5, 5, 24, None),
                                  (5, 5, 24, b"x" * 10)])
def test_bad_raw_images_are_refused(args):
    with pytest.raises(RefuseInput):
        from_raw(*args)


@pytest.mark.parametrize("colour, mean, scale", [("BGR", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
                                                 ("RGB", (127.5, 120.0, 0.0), (1 / 128, 0.5, 2.0))])
def test_to_tensor_orders_channels_and_normalises(colour, mean, scale):
    from frvt_submission.reference import to_tensor

    img = np.random.default_rng(3).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    got = to_tensor(img, colour, mean, scale)
    src = img[:, :, ::-1] if colour == "BGR" else img
    want = ((src.astype(np.float32) - np.float32(mean)) * np.float32(scale)).transpose(2, 0, 1)[None]
    assert got.shape == (1, 3, 37, 53) and got.dtype == np.float32 and got.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(got, want)
    assert got[0, 0, 5, 7] == (np.float32(img[5, 7, 2 if colour == "BGR" else 0]) - np.float32(mean[0])) * np.float32(scale[0])


def test_area_downscale_of_a_large_image_is_a_box_average():
    """The staged area shrink matches OpenCV's one-step INTER_AREA closely on real content."""
    import cv2

    from frvt_runtime.detect import downscale_to

    rng = np.random.default_rng(5)
    base = cv2.resize(rng.integers(0, 256, (60, 40, 3), dtype=np.uint8), (3000, 4500), interpolation=cv2.INTER_CUBIC)
    noisy = np.clip(base.astype(np.int16) + rng.integers(-40, 41, base.shape), 0, 255).astype(np.uint8)
    got = downscale_to(noisy, (427, 640), "area")
    want = cv2.resize(noisy, (427, 640), interpolation=cv2.INTER_AREA)
    assert got.shape == want.shape == (640, 427, 3)
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    assert diff.mean() < 2.0 and np.percentile(diff, 99) <= 6
    # bilinear would alias the pixel noise that area averaging removes
    linear = cv2.resize(noisy, (427, 640), interpolation=cv2.INTER_LINEAR)
    assert np.abs(linear.astype(np.int16) - want.astype(np.int16)).mean() > 3 * diff.mean()


def test_small_faces_get_landmarks_from_a_second_detection(reference_pipeline, test_images):
    """A face shrunk to ~40 px: landmarks from the enlarged region are closer to the full-size
    photo's (scaled) than the first detection's; large faces are left alone."""
    import dataclasses

    from frvt_runtime.pipeline import FacePipeline
    from frvt_runtime.resample import resize_area

    p = reference_pipeline
    off = FacePipeline(dataclasses.replace(p.settings, pipeline=dataclasses.replace(p.settings.pipeline,
                                                                                    small_face_px=0)),
                       p.detector, p.recognizer)
    full = read_image(test_images / "obama.jpg")
    truth = choose_face_landmarks(p, full)
    k = 0.12
    small = resize_area(full, (round(full.shape[1] * k), round(full.shape[0] * k)))
    faces = p.find_faces(small)
    assert faces and max(faces[0].box[2:]) < p.settings.pipeline.small_face_px
    err_on = np.abs(choose_face_landmarks(p, small) - truth * k).mean()
    err_off = np.abs(choose_face_landmarks(off, small) - truth * k).mean()
    print(f"landmark error {err_on:.2f} px refined vs {err_off:.2f} px")
    assert err_on < 0.8 * err_off, (err_on, err_off)
    assert "refine" in p.stage_ms and "refine" not in off.stage_ms
    # A large face is not refined: the same landmarks with and without the setting.
    assert np.array_equal(choose_face_landmarks(p, full), choose_face_landmarks(off, full))


def test_only_the_chosen_face_is_refined(reference_pipeline, test_images):
    """A photo with its own face shrunk to ~50 px pasted in a corner: find_faces refines the
    small face (a second detector run), create_template does not, since it embeds only the
    central large face; its template is the one built from find_faces' refined faces."""
    from frvt_runtime.detect import choose_face
    from frvt_runtime.resample import resize_area

    p = reference_pipeline
    image = read_image(test_images / "obama.jpg").copy()
    h, w = image.shape[:2]
    k = 0.12
    small = resize_area(image, (round(w * k), round(h * k)))
    image[:small.shape[0], :small.shape[1]] = small
    p.stage_ms = {}
    faces = p.find_faces(image)
    sides = sorted(max(f.box[2:]) for f in faces)
    assert len(faces) == 2 and sides[0] < p.settings.pipeline.small_face_px < sides[1], sides
    assert "refine" in p.stage_ms
    chosen = faces[choose_face(faces, w, h, p.settings.pipeline.face_selection)]
    assert max(chosen.box[2:]) == sides[1]
    want = T.encode(T.combine([p.embed(image, chosen)]), n_images=1)
    r = p.create_template([image])
    assert r.code == ReturnCode.Success and "refine" not in p.stage_ms, p.stage_ms
    assert r.templates[0] == want


def choose_face_landmarks(p, image):
    from frvt_runtime.detect import choose_face

    p.stage_ms = {}
    faces = p.find_faces(image)
    return faces[choose_face(faces, image.shape[1], image.shape[0], p.settings.pipeline.face_selection)].landmarks


# The composed frame of test_refinement_keeps_the_chosen_face: a MEDS subject at the centre whose
# face the detector scores below two other subjects' smaller faces placed beside and below it.
CENTRAL, NEIGHBOURS = "S001/S001-08-t10_03.jpg", ("S004/S004-01-t10_01.jpg", "S009/S009-01-t10_01.jpg")


def _face_patch(p, path, face_px: int, margin: float):
    """The photo's face with a margin, resized so that its box's longer side is face_px."""
    from frvt_runtime.resample import resize_linear

    img = read_image(path)
    x, y, w, h = p.detect_oriented(img)[0][0].box
    cx, cy, half = x + w / 2, y + h / 2, margin * max(w, h) / 2
    crop = np.ascontiguousarray(img[int(max(0, cy - half)):int(cy + half), int(max(0, cx - half)):int(cx + half)])
    k = face_px / max(w, h)
    return resize_linear(crop, (round(crop.shape[1] * k), round(crop.shape[0] * k)))


def _paste(canvas, patch, cx: int, cy: int) -> tuple[int, int, int, int]:
    h, w = patch.shape[:2]
    x0, y0 = cx - w // 2, cy - h // 2
    canvas[y0:y0 + h, x0:x0 + w] = patch
    return x0, y0, w, h


def test_refinement_keeps_the_chosen_face(reference_pipeline, shared_data):
    """Three real faces in one 250x250 frame: the central (chosen) one is small enough to be
    refined, and its refinement region holds two neighbours that the detector scores higher.
    The refined landmarks must stay on the chosen face, so the template is that person's."""
    from frvt_runtime.detect import choose_face

    p = reference_pipeline
    meds = shared_data / "meds_openmpf"
    canvas = np.full((250, 250, 3), 128, np.uint8)
    central = _paste(canvas, _face_patch(p, meds / CENTRAL, 100, 1.5), 125, 115)
    _paste(canvas, _face_patch(p, meds / NEIGHBOURS[0], 62, 1.3), 58, 190)
    _paste(canvas, _face_patch(p, meds / NEIGHBOURS[1], 56, 1.3), 192, 190)

    faces, upright = p.detect_oriented(canvas)
    chosen = faces[choose_face(faces, 250, 250, p.settings.pipeline.face_selection)]
    # The frame is what it claims: three faces, the central one chosen though it scores lowest,
    # and small enough to be refined.
    assert upright and len(faces) == 3
    assert chosen.score < min(f.score for f in faces if f is not chosen)
    assert max(chosen.box[2:]) < p.settings.pipeline.small_face_px
    x, y, w, h = central
    assert x <= chosen.box[0] + chosen.box[2] / 2 <= x + w and y <= chosen.box[1] + chosen.box[3] / 2 <= y + h

    r = p.create_template([canvas])
    assert r.code == ReturnCode.Success and "refine" in p.stage_ms
    e = r.eyes[0]
    bx, by, bw, bh = chosen.box
    for ex, ey in ((e.xleft, e.yleft), (e.xright, e.yright)):
        assert bx <= ex <= bx + bw and by <= ey <= by + bh, (e, chosen.box)
    got = T.decode(r.templates[0]).embedding
    own = _emb(p, read_image(meds / CENTRAL))
    others = [_emb(p, read_image(meds / n)) for n in NEIGHBOURS]
    assert got @ own > p.settings.recognizer.same_threshold + 0.1, got @ own
    assert all(got @ own > got @ o + 0.2 for o in others), (got @ own, [got @ o for o in others])


def _sized_images(shared_data, test_images):
    """Real photos small enough for the detector's smaller sizes: the registry images, and from
    ../shared, 150x150 TV crops, 92x112 ORL faces and MEDS photos of up to 320 px."""
    from frvt_runtime.detect import shrink_to_fit

    paths_ = sorted(p for p in test_images.iterdir() if p.suffix != ".csv")
    paths_ += sorted((shared_data / "facerecjs_bbt").rglob("*.*"))[::6]
    paths_ += sorted((shared_data / "orl_att").rglob("*.pgm"))[::20]
    paths_ += sorted((shared_data / "meds_openmpf").rglob("*.jpg"))
    for p in paths_:
        if p.suffix.lower() in (".csv", ".txt", ".md"):
            continue
        image = shrink_to_fit(read_image(p), (640, 640), "area")[0]
        yield p, image


def test_smaller_detector_sizes_find_what_640_finds(reference_pipeline, shared_data, test_images):
    """Each image runs at the smallest compiled size that holds it; on real faces that size finds
    the faces the 640x640 input finds, at the same places. The network sees the same pixels; only
    where a face nears the canvas's right or bottom edge does the edge (no black margin beyond the
    image) move a box or landmark: with the default sizes, 1 face of 147 by 3.4 px, the rest by < 0.1 px."""
    import dataclasses

    from frvt_runtime.detect import Detector

    multi = reference_pipeline.detector
    spec = multi.spec
    assert spec.smaller_sizes, "the default settings compile the detector at smaller sizes"
    only = Detector(dataclasses.replace(spec, smaller_sizes=()), multi.infers[spec.input_size], multi.downscale)
    runs = {size: 0 for size in multi.sizes}
    diffs = []
    for path, image in _sized_images(shared_data, test_images):
        size = multi.size_for(image.shape[1], image.shape[0])
        assert image.shape[1] <= size[0] and image.shape[0] <= size[1] or size == spec.input_size
        runs[size] += 1
        if size == spec.input_size:
            continue
        big, small = only.detect_with_fallback(image), multi.detect_with_fallback(image)
        assert len(big) == len(small), path
        for a, b in zip(big, small):
            diffs.append(max(float(np.max(np.abs(np.subtract(a.box, b.box)))),
                             float(np.max(np.abs(a.landmarks - b.landmarks)))))
    diffs = np.array(diffs)
    print(f"images per detector size {runs}; box/landmark difference from 640 over {diffs.size} faces: "
          f"median {np.median(diffs):.3f}, max {diffs.max():.3f} px, {int((diffs > 0.5).sum())} over 0.5 px")
    assert all(runs[s] >= 5 for s in spec.smaller_sizes), runs
    assert np.median(diffs) <= 0.1 and (diffs <= 0.5).mean() >= 0.95 and diffs.max() <= 4.0


def test_refinement_region_runs_at_the_size_made_for_it(reference_pipeline, test_images):
    """The refinement's region (twice the face, enlarged so the face is small_face_zoom_px) is at
    most 2 x small_face_zoom_px a side, so it runs at the 320 size, never at 640."""
    from frvt_runtime.detect import Detector
    from frvt_runtime.pipeline import FacePipeline
    from frvt_runtime.resample import resize_area

    p = reference_pipeline
    seen = []

    def recording(size, run):
        return lambda canvas: (seen.append((size, canvas.shape[1], canvas.shape[0])), run(canvas))[1]

    det = Detector(p.detector.spec, {s: recording(s, r) for s, r in p.detector.infers.items()}, p.detector.downscale)
    q = FacePipeline(p.settings, det, p.recognizer)
    full = read_image(test_images / "obama.jpg")
    for k in (0.12, 0.2, 0.3):  # faces of about 40, 65 and 100 px
        seen.clear()
        image = resize_area(full, (round(full.shape[1] * k), round(full.shape[0] * k)))
        r = q.create_template([image])
        assert r.code == ReturnCode.Success and "refine" in q.stage_ms, k
        assert seen[-1][0] == (2 * p.settings.pipeline.small_face_zoom_px,) * 2, (k, seen)
