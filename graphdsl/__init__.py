"""graphdsl: write a few lines of arithmetic, see backpropagation happen.

>>> import graphdsl
>>> m = graphdsl.loads("param b = 4\\ny = 2*b + 1")
>>> m.forward()["y"], m.gradients()["b"]
(9.0, 2.0)
"""

from .errors import (GraphdslError, ModelError, ModelSyntaxError, NumericError,
                     PluginError, RenderError, UsageError)
from .model import Model, load, loads

__version__ = "0.1.0"



def load_ipython_extension(ipython) -> None:
    """``%load_ext graphdsl`` in IPython or Jupyter: the ``%%bp`` cell magic
    (see :mod:`graphdsl.notebook`)."""
    from .notebook import load_ipython_extension as load_extension

    load_extension(ipython)


__all__ = [
    "load", "loads", "Model",
    "GraphdslError", "ModelError", "ModelSyntaxError", "NumericError", "PluginError",
    "RenderError", "UsageError",
]
