"""graphnet.ops: the op registry (primitives) and the public op functions."""
from . import (affine, collective, contraction, elementwise, fused, gather,  # noqa: F401
               layer_norm, layout, multi_eltwise, nn, phase, random, recurrent, reduce,
               source, unrolled)  # (each registers its ops)
from .api import *  # noqa: F401,F403
from .api import __all__ as _core_all
from .creation_api import *  # noqa: F401,F403
from .creation_api import __all__ as _creation_all
from .indexing_api import *  # noqa: F401,F403
from .indexing_api import __all__ as _indexing_all
from .loss_api import *  # noqa: F401,F403
from .loss_api import __all__ as _loss_all
from .math_api import *  # noqa: F401,F403
from .math_api import __all__ as _math_all
from .shape_api import *  # noqa: F401,F403
from .shape_api import __all__ as _shape_all
from .statistics_api import *  # noqa: F401,F403
from .statistics_api import __all__ as _statistics_all
from .contract import __all__ as _einsum_all
from .contract import einsum, tensordot  # noqa: F401
from .attention import __all__ as _attention_all
from .attention import dot_product_attention  # noqa: F401
from .array_ops import __all__ as _array_all
from .array_ops import arange, cumsum, split, stop_gradient, top_k  # noqa: F401
from .dispatch import wrap_all
from .eager import convert_to_numpy  # noqa: F401
from . import image  # noqa: F401  (gn.ops.image, as keras.ops.image)
from .registry import OpError, all_ops, get_op, ops_in_group  # noqa: F401

_api_all = (_core_all + _creation_all + _indexing_all + _loss_all + _math_all + _shape_all
            + _statistics_all + _einsum_all + _attention_all + _array_all)
wrap_all(globals(), _api_all)   # symbolic between layers, eager on arrays (ops/dispatch.py)
nn.dot_product_attention = dot_product_attention   # keras.ops.nn's name for it too
__all__ = _api_all + ["convert_to_numpy"]
