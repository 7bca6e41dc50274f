"""Keep freed memory for the next batch (glibc only).

Reading a big file a batch at a time frees and allocates the same few megabytes again
and again. glibc's malloc hands blocks that large to the kernel and takes fresh ones
back (each of their pages zeroed and faulted in anew): 20,000 to 150,000 page faults
and up to a quarter of the CPU time of validating 1,000,000 records. Raising the size
above which it does so (the mmap threshold, to 4 MB: a batch's blocks are below it,
the stores of findings and outcomes that grow with a file soon above) and the free
memory it keeps at the heap's top (the trim threshold, 32 MB) keeps those pages: about
4,000 faults, the same peak memory at 1,000,000 records (5,000,000 half-rejected ones:
about 5% more).

:func:`keep_freed_memory` does this once per process, the first time eicodec reads a
file in batches. It leaves the allocator as it is when the process set its own
(``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_``/``MALLOC_TOP_PAD_`` in the
environment), when ``EICODEC_MALLOC=system``, and off glibc. The cost: after a big
file, up to 32 MB of freed memory stays with the process instead of going back to the
system at once.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform

#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 4 << 20
TRIM_THRESHOLD = 32 << 20
_OWN = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")

@functools.cache
def keep_freed_memory() -> bool:
    """Tune glibc's malloc as the module says (once per process); whether it was."""
    if os.environ.get("EICODEC_MALLOC", "") == "system" or any(k in os.environ for k in _OWN):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
