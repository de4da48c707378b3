"""The TensorFlow adapter under the name seeds 001 and 003 give it (``gpuemu.frameworks.tensorflow``):
TensorFlowAdapter converts tensorflow tensors to and from TensorData, and ``validate_tensorflow`` is the
validate_op context manager for them. Importing this module imports tensorflow."""

from . import validate_tensorflow
from .base import BaseAdapter
from .tf_adapter import TensorFlowAdapter

__all__ = ["BaseAdapter", "TensorFlowAdapter", "validate_tensorflow"]
