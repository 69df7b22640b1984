"""CPU facts and the dtype rule, on both kinds of CPU these machines come with."""

from __future__ import annotations

from prefdata.hardware import CpuInfo, cpu_dtype, cpu_dtype_warning, cpu_info, parse_cpuinfo

# /proc/cpuinfo excerpts of the two kinds (flags shortened to the ones that matter and a few others)
AMD_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 avx f16c fma avx2 bmi2 sha_ni vaes
"""
INTEL_AMX = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""


def test_an_avx2_only_cpu_runs_auto_as_float32_and_warns_on_bf16():
    model, flags = parse_cpuinfo(AMD_AVX2)
    cpu = CpuInfo(model, 2, flags)
    assert model == "AMD EPYC" and cpu.isa == ["avx2", "fma", "avx"] and not cpu.native_bf16
    assert cpu_dtype("auto", cpu) == "float32"
    assert cpu_dtype("bfloat16", cpu) == "bfloat16"  # explicit wins, with a warning
    warning = cpu_dtype_warning("bfloat16", cpu)
    assert "AMD EPYC" in warning and "slower" in warning and "dtype: auto or float32" in warning
    assert cpu_dtype_warning("float32", cpu) is None


def test_a_cpu_with_native_bf16_runs_auto_as_bfloat16():
    model, flags = parse_cpuinfo(INTEL_AMX)
    cpu = CpuInfo(model, 2, flags)
    assert cpu.native_bf16 and cpu.isa[:2] == ["amx_bf16", "amx_int8"]
    assert cpu_dtype("auto", cpu) == "bfloat16" and cpu_dtype_warning("bfloat16", cpu) is None


def test_this_machine_is_read():
    cpu = cpu_info()
    assert cpu.cores >= 1 and cpu.model
    assert cpu_dtype("auto") == ("bfloat16" if cpu.native_bf16 else "float32")
