"""PtxParser on real PTX: nvcc's (committed, and compiled now when nvcc is here) and Triton's."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from gpuemu.artifacts import PtxParser, symbol_names
from gpuemu.errors import InvalidRequest, KernelNotFound, PtxParseError

from ..cuda_artifacts import CUDA_DIR, NVCC_PTX, committed, needs_nvcc, nvcc_build

# nvcc writes one instruction per line: these plain regexes count them independently.
_INSTRUCTION_LINE = re.compile(r"^\s*(?:@!?%p\d+\s+)?([a-z][\w.]*)(?=[ \t;])", re.M)
_REG_LINE = re.compile(r"^\s*\.reg\s+\.(\w+)\s+[%\w]+(?:<(\d+)>)?;", re.M)


def parse(name: str):
    return PtxParser().parse(committed(name), source=name)


def independent_counts(text: str) -> tuple[Counter, Counter]:
    """Registers by type and instructions by full name, read line by line."""
    registers = Counter()
    for ptx_type, n in _REG_LINE.findall(text):
        registers[ptx_type] += int(n or 1)
    return registers, Counter(_INSTRUCTION_LINE.findall(text))


def test_saxpy_header_registers_and_instructions():
    module = parse("saxpy.ptx")
    assert (module.version, module.target, module.address_size) == ("9.0", "sm_80", 64)
    (kernel,) = module.kernels
    assert kernel.name == "saxpy" and kernel.kind == "entry" and kernel.line == 15
    # `.reg .pred %p<2>; .reg .f32 %f<5>; .reg .b32 %r<6>; .reg .b64 %rd<8>;`
    assert kernel.registers_by_type == {"pred": 2, "f32": 5, "b32": 6, "b64": 8}
    assert (kernel.registers, kernel.predicate_registers) == (19, 2)
    assert kernel.instructions == 20 and kernel.mnemonics["fma.rn.f32"] == 1
    assert kernel.instruction_mix["ld"] == 6 and list(kernel.instruction_mix)[0] == "ld"
    assert (kernel.ld_local, kernel.st_local, kernel.local_memory_bytes) == (0, 0, 0)


def check_against_line_counts(text: str, source: str) -> None:
    module = PtxParser().parse(text, source=source)
    registers, instructions = independent_counts(text)
    assert sum((Counter(f.registers_by_type) for f in module.functions), Counter()) == registers
    assert sum((Counter(f.mnemonics) for f in module.functions), Counter()) == instructions
    for f in module.functions:
        assert f.ld_local == sum(n for m, n in f.mnemonics.items() if m.startswith("ld.local"))
        assert f.st_local == sum(n for m, n in f.mnemonics.items() if m.startswith("st.local"))


@pytest.mark.parametrize("name", NVCC_PTX)
def test_committed_nvcc_ptx_matches_a_line_count(name):
    check_against_line_counts(committed(f"{name}.ptx"), f"{name}.ptx")


@needs_nvcc
@pytest.mark.parametrize("name", NVCC_PTX)
def test_ptx_compiled_now_by_nvcc(name):
    """The same sources through this machine's nvcc: the same kernels, the same counts."""
    build = nvcc_build(name)
    check_against_line_counts(build.ptx_text, str(build.ptx))
    fresh = PtxParser().parse_file(build.ptx)
    assert [f.name for f in fresh.functions] == [f.name for f in parse(f"{name}.ptx").functions]


def test_local_array_is_local_memory_with_ld_st_local():
    (kernel,) = parse("local_spill.ptx").kernels
    text = committed("local_spill.ptx")
    assert ".local .align 16 .b8 \t__local_depot0[1024]" in text
    assert kernel.local_memory_bytes == 1024
    assert kernel.st_local == text.count("st.local.") > 0
    assert kernel.ld_local == text.count("ld.local.") > 0


def test_func_body_shared_and_constant_memory():
    module = parse("reduce_sum.ptx")
    helper, kernel = module.functions
    assert (helper.name, helper.kind, kernel.name, kernel.kind) == ("_Z8warp_sumf", "func", "reduce_sum", "entry")
    assert module.kernels == (kernel,) and module.function("_Z8warp_sumf") is helper
    assert helper.instruction_mix["shfl"] == 5 and helper.registers_by_type == {"pred": 6, "f32": 12, "b32": 18}
    assert kernel.calls == ("_Z8warp_sumf",)
    assert kernel.shared_memory_bytes == 1024 and not kernel.dynamic_shared_memory  # buf[256] floats
    assert kernel.constant_memory_bytes == 256  # __constant__ float block_scale[64]
    assert [(v.name, v.space, v.bytes) for v in module.variables] == [("block_scale", "const", 256)]
    assert helper.constant_memory_bytes == 0


def test_triton_ptx():
    """LLVM's PTX: .loc/.file lines, labels, inline-asm blocks with `{ %r1 }` operands, debug sections."""
    text = committed("triton_softmax.ptx")
    module = PtxParser().parse(text, "triton_softmax.ptx")
    assert (module.version, module.target) == ("8.8", "sm_80")
    (kernel,) = module.kernels
    assert kernel.name == "softmax_kernel"
    assert kernel.dynamic_shared_memory and kernel.shared_memory_bytes == 0  # .extern .shared global_smem[]
    assert kernel.mnemonics["ld.global.b32"] == text.count("ld.global.b32 {") == 8
    assert kernel.mnemonics["st.global.b32"] == text.count("st.global.b32 [") == 8
    assert kernel.registers_by_type == {"pred": 9, "b32": 106, "b64": 24}
    body_lines = text[text.index("{", text.index(".entry")):text.index("\n}\n")].splitlines()
    code = [ln for ln in body_lines if re.match(r"\s*(?:@%p\d+\s+)?[a-z]", ln)]
    assert kernel.instructions == len(code)


def test_multi_kernel_file_and_lookup_by_cpp_name():
    module = parse("elementwise.ptx")
    assert [k.name for k in module.kernels] == ["_Z5scalePffi", "_ZN2ew4reluEPfi"]
    assert module.resolve("relu").name == module.resolve("ew::relu").name == "_ZN2ew4reluEPfi"
    assert module.resolve("_Z5scalePffi").name == module.resolve("scale").name == "_Z5scalePffi"
    assert module.kernels[0].mnemonics["div.rn.f32"] == 1
    with pytest.raises(InvalidRequest, match=r"defines 2 kernels \(_Z5scalePffi, _ZN2ew4reluEPfi\); name"):
        module.resolve(None)
    with pytest.raises(KernelNotFound, match=r"elementwise.ptx has no kernel 'gelu'; its kernels: _Z5"):
        module.resolve("gelu")
    with pytest.raises(KernelNotFound, match="has no function 'gelu'"):
        module.function("gelu")


def test_single_kernel_file_answers_to_any_name():
    """A [[kernels]] name is a label: with one kernel in the file it needs not be the symbol."""
    assert parse("saxpy.ptx").resolve("my_saxpy").name == "saxpy"


def test_symbol_names():
    assert symbol_names("_ZN2ew4reluEPfi") == {"_ZN2ew4reluEPfi", "relu", "ew::relu"}
    assert symbol_names("_Z8warp_sumf") == {"_Z8warp_sumf", "warp_sum"}
    assert symbol_names("saxpy") == {"saxpy"}


def test_comments_change_nothing_and_keep_line_numbers():
    text = committed("saxpy.ptx")
    noisy = ("/* a block comment with .entry fake( { and\n a second line } */\n"
             + text.replace("ret;", "ret; // } not a brace\n/* ld.local.f32 %f1, [%rd1]; */"))
    plain, commented = PtxParser().parse(text).kernels[0], PtxParser().parse(noisy).kernels[0]
    assert commented.metrics() == plain.metrics()
    assert commented.line == plain.line + 2
    with pytest.raises(PtxParseError, match=r"^<ptx>:1: no \.version directive"):
        PtxParser().parse(noisy.replace(".version 9.0", ""))


def test_last_line_without_newline():
    header = ".version 8.0\n.target sm_80\n.address_size 64"
    module = PtxParser().parse(header)
    assert (module.version, module.address_size, module.functions) == ("8.0", 64, ())
    with pytest.raises(KernelNotFound, match=r"<ptx> defines no kernel \(no \.entry\)"):
        module.resolve()


def test_module_initializer_braces_and_prototypes():
    text = committed("saxpy.ptx").replace(
        ".address_size 64",
        ".address_size 64\n.global .align 4 .b8 table[8] = {1, 2, 3, 4, 5, 6, 7, 8};\n"
        ".extern .func (.param .b32 r) vprintf (.param .b64 fmt, .param .b64 args);")
    module = PtxParser().parse(text)
    assert [(v.name, v.space, v.bytes) for v in module.variables] == [("table", "global", 8)]
    assert [f.name for f in module.functions] == ["saxpy"]


def line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("\tret;", "\tFOO bar;"), r"saxpy.ptx:{ret}: expected an instruction or a directive, got 'FOO bar'"),
    (lambda t: t.replace("\tret;", "\tret"), r"saxpy.ptx:{ret}: statement 'ret' is not terminated by ';'"),
    (lambda t: t.replace("%f<5>", "%f<x>"), r"saxpy.ptx:{reg}: cannot read the register declaration '\.reg \.f32"),
    (lambda t: t.rstrip().removesuffix("}"), r"saxpy.ptx:15: the body of 'saxpy' is never closed"),
    (lambda t: t + "\n}\n", r"saxpy.ptx:{end}: '}}' without a matching"),
    (lambda t: t.replace(".version 9.0", ""), r"saxpy.ptx:1: no \.version directive"),
    (lambda t: t.replace(".version 9.0", ".version nine"), r"saxpy.ptx:{version}: \.version 'nine' is not a version"),
    (lambda t: t.replace("\tret;", "\tret;\n.visible .entry other()\n{\n\tret;\n"),
     r"'\.visible \.entry other\(\)' starts inside the body of 'saxpy' \(opened at line 15\)"),
])
def test_malformed_ptx_names_the_line(edit, message):
    text = committed("saxpy.ptx")
    broken = edit(text)
    where = {"ret": line_of(text, "\tret;"), "reg": line_of(text, "%f<5>"), "end": broken.count("\n"),
             "version": line_of(text, ".version")}
    with pytest.raises(PtxParseError, match=message.format(**where)):
        PtxParser().parse(broken, source="saxpy.ptx")


def test_not_ptx_at_all():
    source = CUDA_DIR / "saxpy.cu"
    with pytest.raises(PtxParseError, match=r"saxpy\.cu:2: unexpected 'extern \"C\" __global__ void saxpy"):
        PtxParser().parse_file(source)
    with pytest.raises(PtxParseError, match=r"empty.ptx:1: no \.version directive: empty.ptx is not PTX"):
        PtxParser().parse("", source="empty.ptx")
