"""Embedding at scale: shards over a Dask cluster (local processes or a scheduler) with a cache per image and build."""

from __future__ import annotations

import hashlib
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from frvt_runtime.config_dir import MANIFEST_FILE, PIPELINE_FILE, sha256_of
from frvt_runtime.errors import FrvtError
from frvt_runtime.runtime_env import THREAD_VARIABLES

from . import paths

CACHE = paths.BUILD / "embed-cache"
BATCH = 16  # images per task: enough to hide scheduling overhead, small enough to balance 2 workers


def build_hash(config_dir: Path) -> str:
    """The compiled build's identity: models.json (model hashes) and pipeline.json (every runtime setting)."""
    h = hashlib.sha256()
    for name in (MANIFEST_FILE, PIPELINE_FILE):
        h.update((config_dir / name).read_bytes())
    return h.hexdigest()[:16]


@lru_cache(maxsize=2)
def _worker_pipeline(config_dir: str):
    """One pipeline per worker process, built on its first task (TVM models loaded once)."""
    from frvt_runtime.pipeline import FacePipeline

    from .tvm_wheel import wheel_runtime_dir

    return FacePipeline.from_config_dir(Path(config_dir), wheel_runtime_dir())


def embed_batch(config_dir: str, images: list[str]) -> list[np.ndarray | None]:
    """A task: embeddings of a batch of image files, on whichever worker runs it."""
    from .imagefile import read_image

    pipeline = _worker_pipeline(config_dir)
    out = []
    for path in images:
        try:
            out.append(pipeline.embedding_of(read_image(Path(path))))
        except FrvtError:
            out.append(None)
    return out


class EmbeddingCache:
    """cache/<build hash>/<image SHA-256>.npy (an empty file: no face): a rerun, or another protocol on
    the same images, costs no inference; another build never sees these entries."""

    def __init__(self, config_dir: Path, root: Path = CACHE):
        self.folder = root / build_hash(config_dir)  # (made by the first put: a run that fails first leaves none)
        self._files: dict[Path, Path] = {}  # image -> entry: each image is hashed once, for get and put

    def _file(self, image: Path) -> Path:
        if image not in self._files:
            self._files[image] = self.folder / f"{sha256_of(image)}.npy"
        return self._files[image]

    def get(self, image: Path) -> tuple[bool, np.ndarray | None]:
        """(found, embedding); an entry that is not one embedding (cut short, garbage, another
        shape) is a miss, embedded again and overwritten, not a traceback in eval."""
        f = self._file(image)
        if not f.is_file():
            return False, None
        if not f.stat().st_size:
            return True, None
        try:
            emb = np.load(f, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return False, None
        return (True, emb) if emb.ndim == 1 and emb.dtype.kind == "f" else (False, None)

    def put(self, image: Path, embedding: np.ndarray | None) -> None:
        f = self._file(image)
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_suffix(".part")
        if embedding is None:
            tmp.write_bytes(b"")
        else:
            with open(tmp, "wb") as fh:
                np.save(fh, embedding)
        tmp.replace(f)


class DaskEmbedder:
    """What evaluate needs of a pipeline (settings, embed_all), sharded over Dask: `workers` local
    single-threaded processes (a LocalCluster), or the cluster at `scheduler` (tcp://HOST:PORT),
    whose workers must see the same config/ and image paths."""

    def __init__(self, config_dir: Path, workers: int = 2, scheduler: str = "", cache: bool = True, log=print):
        from frvt_runtime.config import load_runtime

        self.config_dir = Path(config_dir).resolve()
        self.settings = load_runtime(self.config_dir / PIPELINE_FILE)
        self.workers, self.scheduler, self.log = workers, scheduler, log
        self.cache = EmbeddingCache(self.config_dir) if cache else None
        self.last: dict = {}

    def _client(self):
        from dask.distributed import Client, LocalCluster

        if self.scheduler:
            try:
                return Client(self.scheduler, timeout=30), None
            except (OSError, ValueError) as exc:  # unreachable (OSError after the timeout) or a bad address
                raise FrvtError(f"no Dask scheduler at {self.scheduler}: {exc}") from None
        # One thread per process: each worker is one single-threaded pipeline, as NIST runs it.
        cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40,
                               env=dict.fromkeys(THREAD_VARIABLES, "1"))
        return Client(cluster), cluster

    def embed_all(self, images: list[Path], progress=None) -> dict[Path, np.ndarray | None]:
        from dask.distributed import as_completed

        t0 = time.perf_counter()
        out: dict[Path, np.ndarray | None] = {}
        todo = []
        for p in images:
            hit, emb = self.cache.get(p) if self.cache else (False, None)
            if hit:
                out[p] = emb
            else:
                todo.append(p)
        if todo:
            client, cluster = self._client()
            try:
                batches = [todo[i:i + BATCH] for i in range(0, len(todo), BATCH)]
                futures = {client.submit(embed_batch, str(self.config_dir), [str(p) for p in b], pure=False): b
                           for b in batches}
                for fut in as_completed(futures):
                    for p, emb in zip(futures[fut], fut.result()):
                        out[p] = emb
                        if self.cache:
                            self.cache.put(p, emb)
                    if progress:
                        progress(len(out), len(images))
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
        self.last = {"images": len(images), "cached": len(images) - len(todo), "embedded": len(todo),
                     "seconds": time.perf_counter() - t0,
                     "workers": self.scheduler or f"{self.workers} local process{'es' if self.workers > 1 else ''}"}
        return out


def scale_set(n: int, folder: Path = paths.BUILD / "scale-set") -> list[Path]:
    """n distinct real face images: the registry and ../shared photos, then variants of them
    (mirrored, and cropped by a few pixels), so every file has its own bytes and its own SHA-256."""
    from .imagefile import read_image
    from .validation.inputs import collect_sources, write_pnm

    folder.mkdir(parents=True, exist_ok=True)
    sources = [p for p, src in collect_sources([]) if src.name != "frvt_edge"]
    out = []
    for i in range(n):
        base = sources[i % len(sources)]
        stem = folder / f"{i:06d}_{base.stem}"
        done = [f for f in (stem.with_suffix(".ppm"), stem.with_suffix(".pgm")) if f.is_file()]
        if done:
            out.append(done[0])
            continue
        img = read_image(base)
        v = i // len(sources)
        if v % 2:
            img = img[:, ::-1]
        k = v // 2  # crop k px off each side: another image, the same face
        if k and min(img.shape[:2]) > 4 * k + 32:
            img = img[k:-k, k:-k]
        out.append(write_pnm(np.ascontiguousarray(img), stem))
    return out
