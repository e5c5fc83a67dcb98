import pytest

from sfp_train.models import preset_config
from sfp_train.models.summary import summarize_config


@pytest.mark.parametrize(
    "name, num_classes, params, gmacs",
    [  # the two-pathway classification presets: test_fidelity (split by part) and test_cli_model (each preset)
        ("slowfast_r50_ava", 80, 33_828_888, 96.9),  # detection: boxes go with the view
        ("slow_only_r50", 400, 32_454_096, 54.5),  # one pathway
    ],
)
def test_one_256_view_of_each_preset_costs_the_published_counts(name, num_classes, params, gmacs):
    summary = summarize_config(preset_config(name, compile=True), num_classes, crop_size=256)  # counted uncompiled
    assert (summary.params, round(summary.gmacs, 1)) == (params, gmacs)
    assert summary.input_shapes[-1] == [1, 3, 32 if name != "slow_only_r50" else 8, 256, 256]
