"""Multi-view testing on the cluster (`sfp_train.evaluate`): a pool of scoring actors gives, clip for clip, what one
process computes over the same views with the same model, at any number of actors; each clip is read once for all of
its views."""

import numpy as np
import pytest
import torch

from sfp.framestore import FrameStore
from sfp_train.data.config import DataConfig
from sfp_train.data.pipeline import EvalViewLoader, eval_decoder, index_rows
from sfp_train.evaluate import evaluate
from sfp_train.models.config import ModelConfig, build_model

pytestmark = pytest.mark.slow
TINY = dict(arch="slowfast", depth=18, width=8, slow_frames=4, alpha=2, fusion_kernel_size=5, crop_size=48)
CLASSES = ["bright", "dark", "striped"]


@pytest.fixture(scope="module")
def store(tmp_path_factory, write_store, noise) -> FrameStore:
    """Six clips of 24 frames at 64x80, two per class, each a different noise pattern."""
    rng = np.random.default_rng(0)
    clips = [(f"-clip{n}", n % 3, "val", noise(rng, 24, 64, 80)) for n in range(6)]
    return write_store(tmp_path_factory.mktemp("eval"), clips, CLASSES, width=80, height=64)


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(**TINY), len(CLASSES)).eval()


def data_config(store: FrameStore) -> DataConfig:
    return DataConfig(framestore=store.uri, train_short_side=(48, 56), crop_size=48, test_short_side=56,
                      test_crop_size=48, test_temporal_views=3, test_spatial_crops=3, sampling_rate=2)


def single_process_scores(model, store, data) -> np.ndarray:
    """The reference: every clip's views loaded, decoded and scored in this process, one clip at a time."""
    loader, decoder = EvalViewLoader(store, data, num_frames=8), eval_decoder(data, arch="slowfast", alpha=2)
    rows = index_rows(store, "val")
    scores = np.zeros((len(rows), len(CLASSES)))
    with torch.no_grad():
        for clip_index, row in enumerate(rows):
            views = loader({**{key: np.asarray([value]) for key, value in row.items()},
                            "clip_index": np.asarray([clip_index])})
            inputs = decoder(views, torch.device("cpu"))
            logits = model([inputs["pathway_0"], inputs["pathway_1"]])
            scores[clip_index] = logits.softmax(dim=-1).sum(dim=0).numpy()
    return scores


def test_views_of_a_clip_come_from_one_read(store):
    reads = []

    class CountingStore(FrameStore):
        def read_jpegs(self, record, frame_indices=None):
            reads.append(list(frame_indices))
            return super().read_jpegs(record, frame_indices)

    counting = CountingStore(store.uri, store.manifest)
    row = index_rows(store, "val")[0]
    views = EvalViewLoader(counting, data_config(store), num_frames=8)(
        {**{key: np.asarray([value]) for key, value in row.items()}, "clip_index": np.asarray([0])})
    assert len(views["jpegs"]) == 9 and len(reads) == 1  # 3 windows x 3 crops from one read
    assert reads[0] == sorted(set(reads[0])) and len(reads[0]) <= 24  # the windows' frames, each once


def test_the_scoring_pool_equals_one_process_clip_for_clip(ray_cluster, store, model):
    data = data_config(store)
    reference = single_process_scores(model, store, data)
    arguments = dict(arch="slowfast", alpha=2, num_frames=8, batch_size=4)
    for workers in (1, 2):
        result = evaluate(model, store, data, "val", workers=workers, **arguments)
        np.testing.assert_allclose(result.scores, reference, rtol=1e-5, atol=1e-6)
        assert result.clips == 6 and result.views_per_clip == 9
        labels = np.array([row["label_id"] for row in index_rows(store, "val")])
        assert result.top1 == pytest.approx(float(np.mean(reference.argmax(axis=1) == labels)))
        assert result.confusion.sum() == 6
