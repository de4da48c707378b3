"""The JAX adapter under the name seeds 001 and 003 give it (``gpuemu.frameworks.jax``):
JaxAdapter converts jax tensors to and from TensorData, and ``validate_jax`` is the
validate_op context manager for them. Importing this module imports jax."""

from . import validate_jax
from .base import BaseAdapter
from .jax_adapter import JaxAdapter

__all__ = ["BaseAdapter", "JaxAdapter", "validate_jax"]
