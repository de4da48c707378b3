"""The PyTorch adapter under the name seeds 001 and 003 give it (``gpuemu.frameworks.pytorch``):
PyTorchAdapter converts torch tensors to and from TensorData, and ``validate_pytorch`` is the
validate_op context manager for them. Importing this module imports torch."""

from . import validate_pytorch
from .base import BaseAdapter
from .torch_adapter import PyTorchAdapter

__all__ = ["BaseAdapter", "PyTorchAdapter", "validate_pytorch"]
