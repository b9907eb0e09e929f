"""Deep-learning primitives written once for NumPy, PyTorch and JAX arrays.

>>> import primitives as P
>>> P.gelu(numpy_array)         # numpy in, numpy out
>>> P.gelu(torch_tensor)        # stays torch, same device and dtype, autograd-aware
>>> P.gelu_backward(g, x)       # hand-written vector-Jacobian product
>>> with P.use_backend("jax"): P.relu([1.0, -2.0])   # Python data -> the default backend

Importing this package imports neither numpy, torch nor jax; a backend loads on first use.
"""

from . import optim
from ._dispatch import (
    available_backends,
    get_backend,
    load_backend,
    register_backend,
    set_backend,
    use_backend,
)
from .activations import (
    elu,
    elu_backward,
    gelu,
    gelu_backward,
    leaky_relu,
    leaky_relu_backward,
    log_softmax,
    log_softmax_backward,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    silu,
    silu_backward,
    softmax,
    softmax_backward,
    softplus,
    softplus_backward,
    tanh,
    tanh_backward,
)
from .backend import Backend, RandomSource
from .batch_norm import batch_norm, batch_norm_backward
from .dropout import dropout, dropout_backward, dropout_mask
from .early_stopping import EarlyStopping
from .layers import layer_norm, layer_norm_backward, linear, linear_backward
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_backward,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_backward,
    contrastive_loss,
    contrastive_loss_backward,
    cross_entropy,
    cross_entropy_backward,
    huber_loss,
    huber_loss_backward,
    l1_loss,
    l1_loss_backward,
    mse_loss,
    mse_loss_backward,
    nll_loss,
    nll_loss_backward,
    sequence_cross_entropy,
    sequence_cross_entropy_backward,
)
from .penalties import l1_penalty, l1_penalty_backward, l2_penalty, l2_penalty_backward

__all__ = [
    "Backend",
    "EarlyStopping",
    "RandomSource",
    "available_backends",
    "batch_norm",
    "batch_norm_backward",
    "binary_cross_entropy",
    "binary_cross_entropy_backward",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward",
    "contrastive_loss",
    "contrastive_loss_backward",
    "cross_entropy",
    "cross_entropy_backward",
    "dropout",
    "dropout_backward",
    "dropout_mask",
    "elu",
    "elu_backward",
    "gelu",
    "gelu_backward",
    "get_backend",
    "huber_loss",
    "huber_loss_backward",
    "l1_loss",
    "l1_loss_backward",
    "l1_penalty",
    "l1_penalty_backward",
    "l2_penalty",
    "l2_penalty_backward",
    "layer_norm",
    "layer_norm_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "linear",
    "linear_backward",
    "load_backend",
    "log_softmax",
    "log_softmax_backward",
    "mse_loss",
    "mse_loss_backward",
    "nll_loss",
    "nll_loss_backward",
    "optim",
    "register_backend",
    "relu",
    "relu_backward",
    "sequence_cross_entropy",
    "sequence_cross_entropy_backward",
    "set_backend",
    "sigmoid",
    "sigmoid_backward",
    "silu",
    "silu_backward",
    "softmax",
    "softmax_backward",
    "softplus",
    "softplus_backward",
    "tanh",
    "tanh_backward",
    "use_backend",
]
__version__ = "0.1.0"
