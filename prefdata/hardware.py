"""What this machine can run: the CPU's name and instruction sets, memory, accelerators.

    from prefdata.hardware import cpu_info, cpu_dtype
    cpu_info().native_bf16        # False on an AVX2-only CPU (e.g. AMD EPYC without AVX-512)
    cpu_dtype("auto")             # "float32" there, "bfloat16" where AVX-512-BF16 or AMX exists

Why it matters: on a CPU without native bf16, vLLM's `dtype: auto` downcasts a float32 model to
bfloat16, oneDNN refuses the bf16 matmul and torch's fallback is so slow that the engine never
leaves warm-up. `auto` therefore means float32 on such a CPU, for vLLM and transformers alike.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

# Flags (as /proc/cpuinfo spells them) that give a CPU bf16 matmuls in hardware.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# Instruction sets worth naming in a report, fastest first.
ISA_FLAGS = ("amx_bf16", "amx_int8", "amx_tile", "avx512_bf16", "avx512_vnni", "avx512f", "avx2", "fma", "avx")
BF16_SLOWDOWN = "several times slower than float32, or a warm-up that never ends (no native bf16 matmul)"


@dataclass(frozen=True)
class CpuInfo:
    model: str
    cores: int
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def native_bf16(self) -> bool:
        return any(f in self.flags for f in BF16_FLAGS)

    @property
    def isa(self) -> list[str]:
        """The instruction sets that matter for model work, as the CPU reports them."""
        return [f for f in ISA_FLAGS if f in self.flags]


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """(model name, flags) from the text of /proc/cpuinfo (the first processor's entry)."""
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:  # x86 / arm
            flags = frozenset(value.split())
    return model, flags


@lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    cpuinfo = Path("/proc/cpuinfo")
    model, flags = parse_cpuinfo(cpuinfo.read_text()) if cpuinfo.is_file() else ("", frozenset())
    return CpuInfo(model=model or platform.processor() or platform.machine(),
                   cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
                   flags=flags)


def cpu_dtype(requested: str, cpu: CpuInfo | None = None) -> str:
    """The dtype to run on this CPU: `auto` is bfloat16 only where the CPU has native bf16."""
    cpu = cpu or cpu_info()
    if requested == "auto":
        return "bfloat16" if cpu.native_bf16 else "float32"
    return requested


def cpu_dtype_warning(requested: str, cpu: CpuInfo | None = None) -> str | None:
    """A line for the console when an explicit bf16 will crawl on this CPU, else None."""
    cpu = cpu or cpu_info()
    if requested in ("bfloat16", "bf16") and not cpu.native_bf16:
        return (f"dtype {requested} on a CPU without native bf16 ({cpu.model or 'unknown CPU'}: no "
                f"{' / '.join(BF16_FLAGS)}) is {BF16_SLOWDOWN}; use dtype: auto or float32")
    return None


def memory_gib() -> tuple[float, float]:
    """(available, total) memory in GiB."""
    import psutil

    mem = psutil.virtual_memory()
    return mem.available / 2**30, mem.total / 2**30


def gpus() -> list[str]:
    """Names of the CUDA devices torch sees (empty on a CPU machine or without torch)."""
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def machine_line() -> str:
    """One line for a log: CPU, cores, instruction sets, bf16, memory, GPUs."""
    cpu = cpu_info()
    available, total = memory_gib()
    return (f"machine: {cpu.model}, {cpu.cores} cores, {' '.join(cpu.isa) or 'no AVX'}, native bf16 "
            f"{'yes' if cpu.native_bf16 else 'no'}; {available:.1f} of {total:.1f} GiB free; "
            f"GPUs: {', '.join(gpus()) or 'none'}")
