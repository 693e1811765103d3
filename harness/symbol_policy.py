"""What a kernel's object file may reference: no BLAS/LAPACK (the kernel must do the math
itself) and no dynamic loading (a way around that rule). Checked on the compiled object's
undefined symbols, so it holds whatever the source looked like (macros, inline asm names)."""
from __future__ import annotations

import re
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

_BLAS_ROUTINES = (
    "gemm gemv ger gerc geru symm symv syr syr2 syrk syr2k trmm trmv trsm trsv hemm hemv her her2 herk "
    "her2k gbmv sbmv spmv spr spr2 tbmv tbsv tpmv tpsv hbmv hpmv hpr hpr2 axpy axpby dot dotc dotu sdot "
    "nrm2 asum scal copy swap rot rotg rotm rotmg amax amin gemmt gemm3m omatcopy imatcopy geadd"
).split()
_BLAS_RE = re.compile(
    r"^(?:_?(?:[sdczhb]|sc|dz|cs|zd|is|id|ic|iz)(?:" + "|".join(_BLAS_ROUTINES) + r")_?)$", re.IGNORECASE)
_PREFIX_RE = re.compile(
    r"^_?(cblas_|scipy_|openblas_|lapacke?_|LAPACKE_|mkl_|MKL_|bli_|blis_|cublas|cublasLt|rocblas_|"
    r"armpl_|ATL_|vendor_blas|xerbla|gotoblas|goto_)", re.IGNORECASE)
_LAPACK_RE = re.compile(r"^[sdcz](gesv|getrf|getrs|potrf|potrs|geqrf|gesvd|gesdd|syev|heev|gels|trtrs)_?$", re.IGNORECASE)
_LOADER = {"dlopen", "dlsym", "dlvsym", "dlmopen", "__libc_dlopen_mode", "__libc_dlsym"}


def undefined_symbols(obj: Path) -> list[str]:
    with obj.open("rb") as f:
        elf = ELFFile(f)
        out = set()
        for sec in elf.iter_sections():
            if isinstance(sec, SymbolTableSection):
                for sym in sec.iter_symbols():
                    if sym.name and sym["st_shndx"] == "SHN_UNDEF":
                        out.add(sym.name)
    return sorted(out)


def forbidden(symbols: list[str]) -> list[str]:
    """The symbols that break the rules, with the reason, e.g. 'cblas_sgemm (BLAS)'."""
    bad = []
    for s in symbols:
        name = s.split("@")[0]
        if _PREFIX_RE.match(name) or _BLAS_RE.match(name) or _LAPACK_RE.match(name):
            bad.append(f"{name} (BLAS/LAPACK)")
        elif name in _LOADER:
            bad.append(f"{name} (dynamic loading)")
    return bad
