"""A synthetic video dataset whose classes differ only in motion, rendered with ffmpeg in the Kinetics layout.

`render_dataset(SynthConfig(), out_dir)` writes `annotations.csv` and `videos/<label>/*.mp4`; the command line
front door is `sfp datasets synth`. The classes and how they move are in `sfp_preprocess.synth.motion`.
"""

from sfp_preprocess.synth.motion import CLASSES, Appearance, Sprite, overlay_expressions, sample_appearance
from sfp_preprocess.synth.render import (
    ANNOTATIONS_CSV,
    CSV_COLUMNS,
    ClipSpec,
    SynthConfig,
    is_complete,
    plan_clips,
    render_clips,
    render_dataset,
)

__all__ = [
    "ANNOTATIONS_CSV",
    "CLASSES",
    "CSV_COLUMNS",
    "Appearance",
    "ClipSpec",
    "Sprite",
    "SynthConfig",
    "is_complete",
    "overlay_expressions",
    "plan_clips",
    "render_clips",
    "render_dataset",
    "sample_appearance",
]
