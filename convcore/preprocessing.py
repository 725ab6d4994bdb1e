"""Image preprocessing fit on training data and applied to new data:
per-channel standardisation and ZCA whitening.

Both follow scikit-learn's habit: ``fit(x)`` learns from training images
``(N, C, H, W)`` and returns the object, ``transform(x)`` applies what was
learned to any images of the same ``(C, H, W)``, ``fit_transform`` does both.
Results are float64 unless the input is float32.
"""
import numpy as np

__all__ = ["ChannelStandardizer", "ZCAWhitener"]


def _images(x, what, expected=None):
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{what}: images must be a real numeric array, got dtype {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"{what}: images must be 4-D (N, C, H, W), got shape {x.shape}")
    if expected is not None and x.shape[1:] != expected:
        raise ValueError(f"{what}: images have shape (N, C, H, W) = {x.shape}; fit saw "
                         f"(C, H, W) = {expected}")
    return x.astype(np.float32 if x.dtype == np.float32 else np.float64, copy=False)


class _Fitted:
    _shape = None

    def _check_fitted(self, what):
        if self._shape is None:
            raise RuntimeError(f"{type(self).__name__}.{what}: call fit(x) first")

    def fit_transform(self, x):
        return self.fit(x).transform(x)


class ChannelStandardizer(_Fitted):
    """Subtract each channel's mean and divide by its standard deviation,
    both measured over the training images (all pixels of all images).

    Parameters
    ----------
    eps : float
        Added to the standard deviation (a constant channel stays finite).

    Examples
    --------
    >>> import numpy as np
    >>> from convcore.preprocessing import ChannelStandardizer
    >>> x = np.arange(16.0).reshape(2, 2, 2, 2)
    >>> z = ChannelStandardizer().fit_transform(x)
    >>> z.mean(axis=(0, 2, 3)).round(6), z.std(axis=(0, 2, 3)).round(6)
    (array([0., 0.]), array([1., 1.]))
    """

    def __init__(self, eps=1e-8):
        self.eps = float(eps)

    def fit(self, x):
        x = _images(x, "ChannelStandardizer.fit")
        if x.shape[0] == 0:
            raise ValueError("ChannelStandardizer.fit: needs at least one image, got N = 0")
        self.mean_ = x.mean(axis=(0, 2, 3), dtype=np.float64)
        self.std_ = x.std(axis=(0, 2, 3), dtype=np.float64)
        self._shape = x.shape[1:]
        return self

    def transform(self, x):
        self._check_fitted("transform")
        x = _images(x, "ChannelStandardizer.transform", self._shape)
        m = self.mean_.astype(x.dtype)[:, None, None]
        s = (self.std_ + self.eps).astype(x.dtype)[:, None, None]
        return (x - m) / s


class ZCAWhitener(_Fitted):
    """ZCA whitening: decorrelate pixels while staying as close as possible
    to the original images (``W = U diag(1/sqrt(s + eps)) U^T`` from the
    eigendecomposition ``U diag(s) U^T`` of the training images' covariance).

    Parameters
    ----------
    eps : float
        Regularisation added to the eigenvalues; larger keeps more of the
        low-variance structure and amplifies less noise.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore.preprocessing import ZCAWhitener
    >>> x = np.random.default_rng(0).standard_normal((500, 1, 2, 2)) @ np.diag([1, 3])
    >>> z = ZCAWhitener(eps=1e-9).fit_transform(x).reshape(500, -1)
    >>> np.allclose(np.cov(z, rowvar=False, bias=True), np.eye(4), atol=1e-6)
    True
    """

    def __init__(self, eps=1e-2):
        self.eps = float(eps)

    def fit(self, x):
        x = _images(x, "ZCAWhitener.fit")
        if x.shape[0] < 2:
            raise ValueError(f"ZCAWhitener.fit: needs at least 2 images, got N = {x.shape[0]}")
        flat = x.reshape(x.shape[0], -1).astype(np.float64)
        self.mean_ = flat.mean(axis=0)
        centred = flat - self.mean_
        cov = centred.T @ centred / flat.shape[0]
        s, u = np.linalg.eigh(cov)
        s = np.maximum(s, 0.0)  # round-off can leave tiny negative eigenvalues
        self.components_ = (u / np.sqrt(s + self.eps)) @ u.T
        self._shape = x.shape[1:]
        return self

    def transform(self, x):
        self._check_fitted("transform")
        x = _images(x, "ZCAWhitener.transform", self._shape)
        flat = x.reshape(x.shape[0], -1) - self.mean_.astype(x.dtype)
        return (flat @ self.components_.astype(x.dtype)).reshape(x.shape)
