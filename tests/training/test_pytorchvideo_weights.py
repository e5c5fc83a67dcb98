import pytest
import torch

from sfp.errors import SfpError
from sfp_train.pytorchvideo_weights import import_pytorchvideo_file, load_state_dict_file


def test_bad_files_are_user_errors(tmp_path):
    with pytest.raises(SfpError, match="not found"):
        load_state_dict_file(tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(SfpError, match="not a torch state dict"):
        load_state_dict_file(tmp_path / "junk.pt")
    torch.save({"model_state": {"a": torch.zeros(1)}, "epoch": 3}, tmp_path / "wrapped.pt")
    assert list(load_state_dict_file(tmp_path / "wrapped.pt")) == ["a"]
    torch.save({"a": torch.zeros(1)}, tmp_path / "tiny.pt")
    with pytest.raises(SfpError, match="1 PyTorchVideo key\\(s\\) have no place in the model: a"):
        import_pytorchvideo_file(tmp_path / "tiny.pt", "slowfast_r50", tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()
    with pytest.raises(SfpError, match="unknown PyTorchVideo arch 'x3d_m'"):
        import_pytorchvideo_file(tmp_path / "wrapped.pt", "x3d_m", tmp_path / "out.pt")


def test_sfp_model_import_of_a_bad_file_is_one_line(tmp_path, capsys):
    from sfp_app.cli.main import main

    torch.save({"a": torch.zeros(1)}, tmp_path / "tiny.pt")
    argv = ["model", "import", "--from", "pytorchvideo", "--arch", "slowfast_r50", str(tmp_path / "tiny.pt")]
    assert main([*argv, "-o", str(tmp_path / "out.pt")]) == 2
    assert capsys.readouterr().err == "sfp: error: 1 PyTorchVideo key(s) have no place in the model: a\n"
    assert not (tmp_path / "out.pt").exists()


def test_sfp_model_import_offers_every_pytorchvideo_arch_the_mapping_knows():
    from sfp_app.cli.model import PYTORCHVIDEO_ARCHS as offered
    from sfp_train.models.pytorchvideo_import import PYTORCHVIDEO_ARCHS

    assert offered == tuple(PYTORCHVIDEO_ARCHS) == ("slowfast_r50", "slowfast_r101", "slowfast_r50_detection")
