"""Extra activation functions for graphdsl, registered under the entry-point
group ``graphdsl.ops``: ``softplus(x)``, ``leaky_relu(x)``, ``gelu(x)``."""

from .ops import Gelu, LeakyRelu, Softplus

__all__ = ["Softplus", "LeakyRelu", "Gelu"]
