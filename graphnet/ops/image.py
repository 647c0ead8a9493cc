"""``gn.ops.image``: the functions of ``keras.ops.image`` graphnet has, symbolic between
layers (recorded as ``gn.ops.image.<name>``) and eager on arrays."""
from . import affine, patches
from .dispatch import dispatching

__all__ = ["affine_transform", "extract_patches"]

affine_transform = dispatching("image.affine_transform", affine.affine_transform)
extract_patches = dispatching("image.extract_patches", patches.extract_patches)
