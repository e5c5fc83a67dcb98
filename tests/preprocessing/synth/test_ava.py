"""The synthetic AVA-format dataset: the annotated boxes are where the rendered people are, the CSVs are in AVA's
formats (read back by the AVA readers), detections are noisy and scored, and `ava` preprocessing accepts it."""

import numpy as np
import pytest

from sfp_preprocess.synth.ava import ACTIONS, SynthAvaConfig, plan_movies, render_ava_dataset
from sfp_train.ava.annotations import read_annotations, read_person_boxes
from sfp_train.ava.labelmap import read_labelmap


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    config = SynthAvaConfig(train_movies=1, val_movies=1, keyframe_range=(2, 4), people=2, width=128, height=96,
                            action_sec=2)  # keyframe 4 in a second segment
    root = tmp_path_factory.mktemp("synth-ava")
    return config, render_ava_dataset(config, root), root


def test_csvs_are_ava_formats_with_every_person_at_every_keyframe(dataset):
    config, annotations, _ = dataset
    labelmap = read_labelmap(annotations / "labelmap.pbtxt")
    assert [(entry.id, entry.name) for entry in labelmap] == list(enumerate(ACTIONS, start=1))
    boxes = read_annotations(annotations / "train.csv")
    assert len(boxes) == 3 * 2 and {box.keyframe_sec for box in boxes} == {2, 3, 4}
    assert any(len(box.labels) == 2 for box in read_annotations(annotations / "val.csv"))  # multi-label person
    detected = read_person_boxes(annotations / "train_predicted_boxes.csv", score_threshold=0.0)
    kept = read_person_boxes(annotations / "train_predicted_boxes.csv", score_threshold=0.8)
    assert len(kept) == len(boxes) and len(detected) >= len(kept)
    assert (annotations / "movies.txt").read_text().count(".mp4\n") == 2


def test_boxes_are_on_the_rendered_people(dataset):
    from sfp.framestore import decode_jpeg
    from sfp_preprocess.decode import DecodeParams, decode_clip

    config, annotations, root = dataset
    movie = plan_movies(config)[0]
    for keyframe in config.keyframes:
        clip = decode_clip(str(root / movie.path), DecodeParams(fps=30, short_side=96), keyframe, keyframe + 1 / 30)
        frame = decode_jpeg(clip.frames[0]).astype(float)
        for person, sprite in zip(movie.people, movie.appearance.sprites):
            x1, y1, x2, y2 = person.box(keyframe, config.width, config.height)
            centre = frame[int((y1 + y2) / 2 * config.height), int((x1 + x2) / 2 * config.width)]
            background = np.array(movie.appearance.background, float)
            assert np.abs(centre - np.array(sprite.colour)).max() < np.abs(centre - background).max(), keyframe


def test_rendering_again_with_the_same_config_does_nothing(dataset):
    config, annotations, root = dataset
    before = (root / "videos").stat().st_mtime_ns
    render_ava_dataset(config, root)
    assert (root / "videos").stat().st_mtime_ns == before


def test_actions_change_between_keyframes_and_people_rest_where_they_do():
    from sfp_preprocess.synth.ava import ACTION_SETS, segment_bounds

    config = SynthAvaConfig(train_movies=2, val_movies=1, keyframe_range=(2, 9), people=3, action_sec=3)
    assert segment_bounds(config) == [(1.5, 4.5), (4.5, 7.5), (7.5, 10.5)]
    for movie in plan_movies(config):
        for person in movie.people:
            sets = [person.actions(keyframe) for keyframe in config.keyframes]
            assert len(set(sets)) == 3 and all(actions in ACTION_SETS for actions in sets)
            for segment in person.segments[1:]:  # no jump where the actions change
                before, after = person.corner(segment.start - 1e-9), person.corner(segment.start)
                rest = (person.anchor[0] - person.size[0] / 2, person.anchor[1] - person.size[1] / 2)
                assert np.allclose(before, rest, atol=1e-3) and np.allclose(after, rest, atol=1e-3)
