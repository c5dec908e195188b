"""Embedding on a Dask LocalCluster: the same embeddings as one process, and a cache keyed by image and build."""

from __future__ import annotations

import shutil

import numpy as np

from frvt_submission import paths


def test_two_workers_give_the_single_process_embeddings_and_the_cache_skips_inference(built, test_images, tmp_path):
    from frvt_runtime.pipeline import FacePipeline
    from frvt_submission.tvm_wheel import wheel_runtime_dir
    from frvt_submission.evaluate import embed_images
    from frvt_submission.scale import DaskEmbedder, EmbeddingCache

    images = sorted(p for p in test_images.iterdir() if p.suffix != ".csv")
    single = embed_images(FacePipeline.from_config_dir(paths.DEFAULT_OUTPUTS.config, wheel_runtime_dir()), images)
    dask = DaskEmbedder(paths.DEFAULT_OUTPUTS.config, workers=2, cache=True, log=lambda m: None)
    dask.cache = EmbeddingCache(paths.DEFAULT_OUTPUTS.config, root=tmp_path / "cache")
    sharded = embed_images(dask, images)
    assert dask.last["embedded"] == len(images) and dask.last["cached"] == 0
    assert all(single[p] is not None and np.array_equal(single[p], sharded[p]) for p in images)
    again = embed_images(dask, images)  # a rerun: no cluster, no inference
    assert dask.last["cached"] == len(images) and dask.last["embedded"] == 0
    assert all(np.array_equal(again[p], sharded[p]) for p in images)
    # Another build (here: another runtime setting) has its own cache entries.
    other = tmp_path / "config"
    shutil.copytree(paths.DEFAULT_OUTPUTS.config, other)
    (other / "pipeline.json").write_text((other / "pipeline.json").read_text().replace('"central"', '"score"'))
    assert EmbeddingCache(other, root=tmp_path / "cache").folder != dask.cache.folder
    assert EmbeddingCache(other, root=tmp_path / "cache").get(images[0]) == (False, None)
