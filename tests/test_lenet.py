"""The LeNet-5 example: one short epoch always; the accuracy target in a
slow test."""
import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the LeNet example needs scikit-learn (the "
                    "'examples' and 'test' extras install it)")

from convcore import nn  # noqa: E402
from convcore.examples import lenet  # noqa: E402


def test_data_is_real_digits_upsampled():
    x_tr, y_tr, x_te, y_te = lenet.load_digits_32()
    assert x_tr.shape == (1437, 1, 32, 32) and x_te.shape == (360, 1, 32, 32)
    assert x_tr.dtype == np.float32 and 0 <= x_tr.min() and x_tr.max() <= 1
    assert sorted(set(y_tr)) == list(range(10)) and len(y_tr) + len(y_te) == 1797
    # bilinear upsampling keeps the mean intensity of each 8x8 scan
    from sklearn.datasets import load_digits
    d = load_digits()
    up = lenet._upsample_matrix(8, 32)
    np.testing.assert_allclose(up.sum(axis=1), 1)
    np.testing.assert_allclose((up @ d.images[0] @ up.T).mean(), (d.images[0] / 16).mean() * 16,
                               rtol=0.05)


def test_one_short_epoch_and_the_command(tmp_path, capsys, restore_threads):
    x_tr, y_tr, x_te, y_te = lenet.load_digits_32()
    model = lenet.lenet5(rng=0)
    hist = lenet.train(model, x_tr[:256], y_tr[:256], epochs=1, batch_size=64,
                       x_test=x_te[:64], y_test=y_te[:64], out=None)
    assert len(hist) == 1 and np.isfinite(hist[0]["loss"])
    assert {"epoch", "loss", "train_acc", "test_acc", "images_per_s"} <= set(hist[0])
    path = tmp_path / "w.npz"
    acc = lenet.run(["--epochs", "1", "--threads", "1", "--save", str(path)])
    out = capsys.readouterr()
    assert "epoch 1/1" in out.err and "img/s" in out.err and "test acc" in out.err
    assert "test accuracy" in out.out
    restored = lenet.lenet5(rng=1).load(path)
    x = x_te[:8]
    assert 0 <= acc <= 1 and restored(x).shape == (8, 10)
    assert isinstance(restored, nn.Sequential)


@pytest.mark.slow
def test_reaches_97_percent_on_held_out_digits():
    acc = lenet.run(["--quiet", "--save", ""])
    assert acc >= 0.97
