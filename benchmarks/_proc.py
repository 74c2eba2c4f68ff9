"""Process measurements shared by the benchmarks: current and peak resident memory, stderr logging."""

from __future__ import annotations

import os
import resource
import sys

__all__ = ["log", "rss_mib", "peak_mib"]


def log(msg: str) -> None:
    """Progress goes to stderr so stdout stays one table or one JSON object."""
    print(msg, file=sys.stderr, flush=True)


def rss_mib() -> float:
    """This process's resident memory now, in MiB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mib() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: after fork+exec ru_maxrss starts at the
    parent's RSS (the kernel carries the forked copy's high-water mark over the exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
