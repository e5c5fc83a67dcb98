import matplotlib
from matplotlib.image import imread

from sfp_train.ava.plots import plot_per_class_ap


def test_writes_a_png_whose_height_grows_with_the_classes(tmp_path):
    backend = matplotlib.get_backend()
    few = plot_per_class_ap({"stand": 0.8, "sit": 0.0}, tmp_path / "few.png", mean_ap=0.4)
    per_class = {f"action {index}": index / 40 for index in range(40)} | {"no gt": float("nan")}
    many = plot_per_class_ap(per_class, tmp_path / "plots" / "many.png")

    assert few.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    few_height, few_width, _ = imread(few).shape
    many_height, many_width, _ = imread(many).shape
    assert few_width == many_width == 800
    assert many_height > few_height + 800
    assert matplotlib.get_backend() == backend  # no global backend switch
