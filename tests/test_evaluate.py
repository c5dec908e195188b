"""Evaluation: pairs CSV parsing, FNMR@FMR arithmetic, every-pair scoring, LFW View 2, the registry images."""

from pathlib import Path

import numpy as np
import pytest

from frvt_runtime.errors import ConfigError, FrvtError
from frvt_submission.evaluate import evaluate, fnmr_at_fmr, read_pairs


def test_fnmr_at_fmr_arithmetic():
    imp = np.linspace(-0.5, 0.3, 100)  # highest impostor 0.3, next 0.2919...
    gen = np.array([0.25, 0.35, 0.5, 0.9])
    # FMR 1e-2 of 100 impostors lets one impostor through: threshold = 2nd highest
    assert fnmr_at_fmr(gen, imp, 1e-2) == pytest.approx(0.25)
    assert fnmr_at_fmr(gen, imp, 1e-3) is None  # too few impostors


def test_bad_csv(tmp_path):
    """The refusal shows the first line it found (a semicolon file, capitals) beside the one it wants,
    and a folder is named as one, not 'not found'."""
    p = tmp_path / "pairs.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="missing column"):
        read_pairs(p)
    p.write_text("IMG1;IMG2;LABEL\na.jpg;b.jpg;1\n")
    with pytest.raises(ConfigError, match="its first line reads 'IMG1;IMG2;LABEL', and a pairs file's is "
                                          r"'img1,img2,label\[,id1,id2\]'"):
        read_pairs(p)
    with pytest.raises(ConfigError, match=f"{tmp_path} is a folder: give its pairs file"):
        read_pairs(tmp_path)


def test_registry_images_all_correct(reference_pipeline, test_images):
    r = evaluate(reference_pipeline, read_pairs(test_images / "pairs.csv"), 0.363)
    assert r["pairs"] == 21 and r["fte"] == 0
    assert r["accuracy"] == 1.0


def test_every_pair_matches_a_double_loop_and_failures_score_as_non_matches():
    from frvt_submission.evaluate import FAILED_SCORE, all_pair_scores

    rng = np.random.default_rng(0)
    paths = [Path(f"/x/{i}.jpg") for i in range(9)]
    ids = {p: f"id{i % 3}" for i, p in enumerate(paths)}
    emb = {p: v / np.linalg.norm(v) for p, v in zip(paths, rng.normal(size=(9, 16)).astype(np.float32))}
    emb[paths[4]] = None  # a failed enrolment
    genuine, impostor = all_pair_scores(emb, ids, block=4)  # blocks smaller than the set
    want_g, want_i = [], []
    for a in range(9):
        for b in range(a + 1, 9):
            ea, eb = emb[paths[a]], emb[paths[b]]
            s = FAILED_SCORE if ea is None or eb is None else float(ea @ eb)
            (want_g if ids[paths[a]] == ids[paths[b]] else want_i).append(s)
    assert genuine.size == 9 == len(want_g) and impostor.size == 27 == len(want_i)
    assert np.allclose(np.sort(genuine), np.sort(want_g), atol=1e-6)
    assert np.allclose(np.sort(impostor), np.sort(want_i), atol=1e-6)
    assert np.sum(genuine == FAILED_SCORE) == 2 and np.sum(impostor == FAILED_SCORE) == 6


def test_fnmr_table_with_intervals():
    from frvt_submission.evaluate import fnmr_table, wilson

    lo, hi = wilson(0, 10)
    assert lo == 0.0 and abs(hi - 0.2775) < 1e-3  # the textbook Wilson bound for 0/10
    lo, hi = wilson(30, 100)
    assert lo < 0.3 < hi and abs((lo + hi) / 2 - 0.3) < 0.01
    impostor = np.linspace(-0.5, 0.5, 1000)  # FMR 1e-2 -> threshold at the 10th highest impostor
    genuine = np.array([0.2, 0.49, 0.6, 0.7])
    t = fnmr_table(genuine, impostor)
    assert t[1e-4] is None and t[1e-6] is None  # 1,000 impostors support 1e-2 and 1e-3 only
    assert abs(t[1e-2]["threshold"] - impostor[-11]) < 1e-12 and t[1e-2]["misses"] == 1
    assert t[1e-3]["misses"] == 2 and t[1e-3]["lo"] <= 0.5 <= t[1e-3]["hi"]


def test_conflicting_identity_labels_are_refused():
    from frvt_submission.evaluate import Pair, identities

    a, b = Path("/p/a.jpg"), Path("/p/b.jpg")
    with pytest.raises(ConfigError, match="labelled both"):
        identities([Pair(a, b, False, "x", "y"), Pair(a, b, False, "z", "y")])
    assert identities([Pair(a, b, True)]) == {a: "p", b: "p"}  # no labels: the folder names the person


def test_lfw_ten_fold_protocol(reference_pipeline, test_images, tmp_path):
    from frvt_submission.evaluate import evaluate_lfw, read_lfw_pairs, ten_fold

    # ten_fold's threshold comes from the other folds only: a fold whose own best threshold differs
    # from the rest is scored at the rest's.
    scores = [np.array([0.9, 0.1]), np.array([0.8, 0.2]), np.array([0.3, 0.25])]
    labels = [np.array([True, False])] * 3
    r = ten_fold(scores, labels)
    assert r["folds"][:2] == [1.0, 1.0] and r["folds"][2] == 0.5
    # A View-2 tree from the registry photos: lfw/<name>/<name>_<nnnn>.jpg.
    import shutil

    for name, files in {"Barack_Obama": ["obama.jpg", "obama2.jpg", "obama3.jpg"], "Joe_Biden": ["biden.jpg"]}.items():
        (tmp_path / "lfw" / name).mkdir(parents=True)
        for k, f in enumerate(files, 1):
            shutil.copy(test_images / f, tmp_path / "lfw" / name / f"{name}_{k:04d}.jpg")
    (tmp_path / "pairs.txt").write_text("2\t1\nBarack_Obama\t1\t2\nBarack_Obama\t1\tJoe_Biden\t1\n"
                                        "Barack_Obama\t2\t3\nBarack_Obama\t3\tJoe_Biden\t1\n")
    folds = read_lfw_pairs(tmp_path / "pairs.txt")
    assert [len(f) for f in folds] == [2, 2] and folds[0][0].same and not folds[0][1].same
    r = evaluate_lfw(reference_pipeline, folds)
    assert r["mean"] == 1.0 and r["pairs"] == 4 and r["images"] == 4
    (tmp_path / "pairs.txt").write_text("2\t1\nBarack_Obama\t1\t2\n")
    with pytest.raises(ConfigError, match="pair lines"):
        read_lfw_pairs(tmp_path / "pairs.txt")


def test_an_lfw_limit_keeps_both_kinds_of_pair():
    """eval --limit N took a fold's first N lines, all genuine when N <= pairs per class, and printed
    a genuine-only 'accuracy' without a word."""
    from frvt_submission.evaluate import Pair, limited_fold

    fold = [Pair(Path(f"g{i}a"), Path(f"g{i}b"), True) for i in range(3)] + \
        [Pair(Path(f"i{i}a"), Path(f"i{i}b"), False) for i in range(3)]
    assert [p.img1.name for p in limited_fold(fold, 2)] == ["g0a", "i0a"]
    assert [p.img1.name for p in limited_fold(fold, 3)] == ["g0a", "g1a", "i0a"]
    assert limited_fold(fold, 6) == fold and limited_fold(fold, 60) == fold


def test_library_backend_agrees_with_the_python_path(built, settings, test_images, tmp_path):
    """eval --backend library: the built library's templates (via the NIST driver) give the same
    scores as the Python pipeline on config/, and a changed embedding is reported."""
    from frvt_runtime.pipeline import FacePipeline
    from frvt_submission.tvm_wheel import wheel_runtime_dir
    from frvt_submission import paths
    from frvt_submission.evaluate import embed_images
    from frvt_submission.library_eval import LibraryEmbedder, compare_backends

    pairs = read_pairs(test_images / "pairs.csv")
    images = sorted({p.img1 for p in pairs} | {p.img2 for p in pairs})
    python = FacePipeline.from_config_dir(paths.DEFAULT_OUTPUTS.config, wheel_runtime_dir())
    library = LibraryEmbedder(python.settings, settings.submission.library_name, work=tmp_path, log=lambda m: None)
    lib_emb, py_emb = embed_images(library, images), embed_images(python, images)
    assert all(v is not None for v in lib_emb.values())
    c = compare_backends(lib_emb, py_emb, pairs, python.settings.recognizer.same_threshold)
    assert c["pairs"] == 21 and c["disagree"] == 0 and c["max_diff"] <= 1e-6 and c["fte_diff"] == []
    changed = dict(lib_emb)
    changed[images[0]] = -changed[images[0]]
    c = compare_backends(changed, py_emb, pairs, python.settings.recognizer.same_threshold)
    assert c["disagree"] > 0 and c["max_diff"] > 0.5



def test_the_library_backend_runs_the_library_the_settings_file_names(built, test_images, tmp_path, capsys):
    """eval --backend library took lib/'s name from config/'s settings, whose [submission] was always
    the default one: a company other than oneml looked for libfrvt_11_oneml_001.so."""
    from frvt_submission import paths
    from frvt_submission.cli import main

    text = paths.SETTINGS_FILE.read_text()
    assert 'company = "oneml"' in text
    mine = tmp_path / "frvt.toml"
    mine.write_text(text.replace('company = "oneml"', 'company = "acme"'))
    # (the default's config/ for the Python side: this file's own root has none built)
    assert main(["--settings", str(mine), "eval", "--backend", "library", "--config-dir",
                 str(paths.DEFAULT_OUTPUTS.config), str(test_images / "pairs.csv")]) == 2
    out, err = capsys.readouterr()
    lib = paths.outputs_for(mine).lib / "libfrvt_11_acme_001.so"  # in this settings file's own lib/
    assert out.startswith(f"settings: {mine}\n") and f"{lib} or config/ is missing" in err


def _csv(tmp_path, text: str, name="pairs.csv", encoding="utf-8") -> Path:
    """A pairs CSV beside empty a/1.jpg, a/2.jpg, b/1.jpg (read_pairs only checks that they exist)."""
    for img in ("a/1.jpg", "a/2.jpg", "b/1.jpg"):
        (tmp_path / img).parent.mkdir(exist_ok=True)
        (tmp_path / img).touch()
    (tmp_path / name).write_text(text, encoding=encoding)
    return tmp_path / name


def test_a_bare_csv_name_finds_images_beside_it(tmp_path, monkeypatch):
    _csv(tmp_path, "img1,img2,label\na/1.jpg,a/2.jpg,1\n")
    monkeypatch.chdir(tmp_path)
    assert read_pairs(Path("pairs.csv"))[0].img1 == tmp_path / "a/1.jpg"


def test_excel_bom_short_rows_and_empty_files(tmp_path):
    assert len(read_pairs(_csv(tmp_path, "img1,img2,label\na/1.jpg,b/1.jpg,0\n", encoding="utf-8-sig"))) == 1
    with pytest.raises(ConfigError, match=r"line 3: 3 columns expected"):
        read_pairs(_csv(tmp_path, "img1,img2,label\na/1.jpg,b/1.jpg,0\na/1.jpg,a/2.jpg\n"))
    with pytest.raises(ConfigError, match="no pairs"):
        read_pairs(_csv(tmp_path, "img1,img2,label\n"))
    with pytest.raises(ConfigError, match="not a UTF-8 CSV"):
        read_pairs(_csv(tmp_path, "img1,img2,label\na/1.jpg,b/é.jpg,0\n", encoding="latin-1"))
    with pytest.raises(ConfigError, match=r"line 2: image 'b/2.jpg' not found"):
        read_pairs(_csv(tmp_path, "img1,img2,label\na/1.jpg,b/2.jpg,0\n"))


def test_a_pair_listed_twice(tmp_path):
    rows = "img1,img2,label\na/1.jpg,a/2.jpg,1\na/1.jpg,b/1.jpg,0\n"
    assert len(read_pairs(_csv(tmp_path, rows + "a/2.jpg,a/1.jpg,1\n"))) == 2  # counted once
    with pytest.raises(ConfigError, match="line 4: the same two images as line 2, with the other label"):
        read_pairs(_csv(tmp_path, rows + "a/2.jpg,a/1.jpg,0\n"))


def test_an_impostor_pair_of_one_identity_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"line 2: label 0, but the identities .* 'a' and 'a'.*id1,id2"):
        read_pairs(_csv(tmp_path, "img1,img2,label\na/1.jpg,a/2.jpg,0\n"))  # one folder
    with pytest.raises(ConfigError, match=r"line 2: label 0, but the identities .* 'x' and 'x'"):
        read_pairs(_csv(tmp_path, "img1,img2,label,id1,id2\na/1.jpg,b/1.jpg,0,x,x\n"))


def test_one_class_gives_no_threshold_and_no_nan():
    import warnings

    from frvt_submission.evaluate import best_threshold_accuracy, summary_row

    assert best_threshold_accuracy(np.array([0.2, 0.9]), np.array([True, True])) == (None, None)
    assert best_threshold_accuracy(np.array([0.2, 0.9]), np.array([False, False])) == (None, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "mean of empty slice" would be a nan FNMR
        assert fnmr_at_fmr(np.zeros(0), np.linspace(0, 1, 100), 1e-2) is None
    r = {"pairs": 2, "genuine": 0, "impostor": 2, "fte": 0, "images": 3, "accuracy": 1.0,
         "best_accuracy": None, "best_threshold": None, "fnmr@fmr1e-2": None, "fnmr@fmr1e-3": None}
    assert summary_row("s", r)[5] == "n/a (impostor pairs only)"
    with pytest.raises(FrvtError, match="no pairs"):
        evaluate(None, [], 0.3)  # e.g. cut to nothing by --limit


def test_lfw_pairs_txt_errors(tmp_path):
    from frvt_submission.evaluate import read_lfw_pairs

    for name in ("A", "B"):
        (tmp_path / name).mkdir()
        for k in (1, 2):
            (tmp_path / name / f"{name}_{k:04d}.jpg").touch()
    fold = "A 1 2\nA 1 B 1\n"
    txt = tmp_path / "pairs.txt"
    for text, error in [("2 1\n" + fold + "A 1 x\nA 1 B 1\n", r"line 4: image number 'x' is not a number"),
                        ("1 1\n" + fold, "at least 2 folds"), ("0 1\n", "at least 2 folds"),
                        ("2\n" + fold * 2, "first line must be"),
                        ("2 1 1\n" + fold * 2, "first line must be"), ("3 1\n" + fold * 2, "2 missing, from fold 3 on"),
                        ("2 1\n" + fold * 3, "line 6 on is extra")]:
        txt.write_text(text)
        with pytest.raises(ConfigError, match=error):
            read_lfw_pairs(txt)
    txt.write_text("2 1\n" + fold * 2)
    assert [len(f) for f in read_lfw_pairs(txt)] == [2, 2]
