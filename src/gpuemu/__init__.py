"""gpuemu: prove a deep-learning kernel correct without a GPU.

The public API lives here; the machinery lives in modules users need not import::

    from gpuemu import Client, validate_op, validate_output, SeededRng

Names are imported on first use, so a reference script (which imports
``gpuemu.script``) starts without loading the client, the fuzzer or pynng.
"""

from importlib import import_module

__version__ = "0.1.0"
PROTOCOL_VERSION = 1  # the wire protocol (gpuemu.protocol); here so `gpuemu version` stays light

_EXPORTS = {
    "client": ("Client", "ClientError", "ConnectionError", "FuzzResults", "GpuemuClient",
               "MinimizeResult",
               "ReproduceResult", "ValidationError"),
    "validation": ("ValidationContext", "validate_op"),
    "config": ("ProjectConfig", "load_config"),
    "dtypes": ("DType",),
    "errors": ("ConfigError", "GpuemuError", "InvalidRequest", "OpNotFound",
               "ReferenceScriptFailed"),
    "fuzz": ("FuzzConfig", "SeededFuzzer", "TestCase", "fuzz_dtypes", "fuzz_dtypes_seeded",
             "fuzz_layouts", "fuzz_layouts_seeded", "fuzz_shapes", "fuzz_shapes_seeded",
             "generate_case", "generate_random_tensor"),
    "rng": ("SeededRng", "derive_seed", "generate_seed"),
    "tolerances": ("ToleranceConfig", "ToleranceProfile", "calibrate_tolerance",
                   "get_recommended_tolerance"),
    "validate": ("FailureKind", "ReproductionInfo", "ValidationResult", "validate_output"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = ["PROTOCOL_VERSION", "__version__", *sorted(_WHERE)]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'gpuemu' has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
