"""The adapter interface and the registry that picks an adapter for a value.

An adapter turns one framework's tensors into TensorData (and numpy) and back. The
registry recognises a tensor by the top-level package of the classes in its type's MRO,
so deciding that a value is *not* a torch tensor never imports torch: a framework
whose tensor you hold is already imported, and one you do not hold stays unloaded.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

import numpy as np

from ..dtypes import DType
from ..errors import GpuemuError, InvalidRequest
from ..tensor import TensorData, from_numpy, to_numpy

__all__ = ["BaseAdapter", "FrameworkNotInstalled", "NumpyAdapter", "UnsupportedTensor",
           "adapter_for", "framework_names", "get_adapter"]


class FrameworkNotInstalled(GpuemuError, ImportError):
    """The framework an adapter needs cannot be imported here."""


class UnsupportedTensor(GpuemuError, TypeError):
    """A framework value that has no exact TensorData form (a dtype gpuemu lacks, a
    symbolic/traced tensor, a sparse layout...); the message says what to do instead."""


class BaseAdapter(ABC):
    """Converts one framework's tensors to and from numpy and TensorData.

    Subclasses implement ``to_numpy``/``from_numpy`` exactly (bit for bit, layout kept
    where the framework has one); the TensorData methods are built on them, and an
    adapter whose framework has storage offsets (torch) overrides them to carry it.
    """

    name: ClassVar[str]

    @abstractmethod
    def is_tensor(self, value: Any) -> bool:
        """True for a value this adapter converts (its framework's tensor types)."""

    @abstractmethod
    def to_numpy(self, value: Any) -> np.ndarray:
        """The host values of ``value`` as numpy, same dtype (bfloat16 via ml_dtypes)
        and, where the framework has strides, the same element strides."""

    @abstractmethod
    def from_numpy(self, array: np.ndarray) -> Any:
        """A tensor of this framework with ``array``'s values and dtype (and layout, where
        the framework has one)."""

    def to_tensor_data(self, value: Any) -> TensorData:
        """``value`` on the wire: values, dtype and strides exactly."""
        return from_numpy(self.to_numpy(value))

    def from_tensor_data(self, td: TensorData, field: str = "tensor") -> Any:
        """Decode ``td`` (checked like ``gpuemu.tensor.to_numpy``; ``field`` names it in
        errors) into a tensor of this framework."""
        return self.from_numpy(to_numpy(td, field))

    def unsupported_dtype(self, dtype: Any) -> UnsupportedTensor:
        """The error for a ``dtype`` of this framework that gpuemu has no DType for."""
        return UnsupportedTensor(
            f"{self.name} dtype {dtype} has no gpuemu DType; cast the tensor to one of"
            f" {', '.join(d.short_name for d in DType)} before validating it")

    def dtype_of(self, np_dtype: np.dtype, shown: Any = None) -> DType:
        """The gpuemu DType of a numpy dtype; ``shown`` is the framework's spelling of it,
        named in the error when there is none."""
        try:
            return DType.from_numpy(np_dtype)
        except InvalidRequest:
            raise self.unsupported_dtype(np_dtype if shown is None else shown) from None


class NumpyAdapter(BaseAdapter):
    """numpy arrays and anything ``np.asarray`` accepts: the default adapter."""

    name = "numpy"

    def is_tensor(self, value: Any) -> bool:
        return isinstance(value, np.ndarray)

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value)

    def from_numpy(self, array: np.ndarray) -> np.ndarray:
        return array


@dataclass(frozen=True, slots=True)
class _Entry:
    module: str  # the adapter's module, imported on first use
    cls: str
    roots: tuple[str, ...]  # top-level packages whose types the adapter converts
    extra: str  # pip extra that installs the framework


_REGISTRY: dict[str, _Entry] = {
    "torch": _Entry("gpuemu.frameworks.torch_adapter", "PyTorchAdapter", ("torch",), "torch"),
    "jax": _Entry("gpuemu.frameworks.jax_adapter", "JaxAdapter", ("jax", "jaxlib"), "jax"),
    "tensorflow": _Entry("gpuemu.frameworks.tf_adapter", "TensorFlowAdapter", ("tensorflow",),
                         "tensorflow"),
}
_ALIASES = {"pytorch": "torch", "tf": "tensorflow", "np": "numpy"}
_BY_ROOT = {root: name for name, entry in _REGISTRY.items() for root in entry.roots}
NUMPY = NumpyAdapter()


def framework_names() -> list[str]:
    """The framework names ``get_adapter`` accepts (aliases aside)."""
    return ["numpy", *_REGISTRY]


def get_adapter(framework: str) -> BaseAdapter:
    """The adapter for ``framework`` ("numpy", "torch"/"pytorch", "jax", "tensorflow"/"tf").

    Imports the framework; raises FrameworkNotInstalled if that fails and
    InvalidRequest (a ValueError) for an unknown name.
    """
    name = _ALIASES.get(framework.lower(), framework.lower())
    if name != "numpy" and name not in _REGISTRY:
        raise InvalidRequest(f"framework: unknown framework {framework!r}; expected one of "
                             f"{', '.join(framework_names())}", field="framework")
    return _load(name)


@cache
def _load(name: str) -> BaseAdapter:
    if name == "numpy":
        return NUMPY
    entry = _REGISTRY[name]
    try:
        module = importlib.import_module(entry.module)
    except ImportError as exc:
        raise FrameworkNotInstalled(
            f"framework {name!r} cannot be imported here ({exc}); install it with"
            f" pip install 'gpuemu[{entry.extra}]'") from exc
    return getattr(module, entry.cls)()


def adapter_for(value: Any) -> BaseAdapter:
    """The adapter for ``value``'s type: a framework's for its tensors, numpy's otherwise."""
    for cls in type(value).__mro__:
        name = _BY_ROOT.get(cls.__module__.partition(".")[0])
        if name is not None:
            return _load(name)
    return NUMPY
