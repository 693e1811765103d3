"""What a failed run of a CUDA driver means (the shared rules are harness/measure/check.py
run_failure): a CUDA error record's phase decides whose fault it is; a missing NVIDIA driver
library is the machine's; a missing vendor library names what to install."""
from __future__ import annotations

from harness.config.devices import Device
from harness.core.channel import read_channel
from harness.core.records import RunResult, Status

CUDA_LIBRARY_HINT = ("install the vendor libraries on the GPU machine (`pip install nvidia-cudnn-cu13 nvidia-cublas`, "
                     "or the CUDA toolkit and cuDNN) and put their lib/ on LD_LIBRARY_PATH (devices.yaml `env`)")


NO_GPU_HINT = ("; this machine has no usable NVIDIA GPU or driver (/dev/nvidia*, libcuda.so.1): run on the GPU "
               "machine (an SSH device in devices.yaml), or build only (`tensorop build`, `bench --build-only`, "
               "`generate --build-only`: the compile-only report)")


NO_GPU_ERRORS = ("cudaErrorNoDevice", "cudaErrorInsufficientDriver", "cudaErrorNotSupported",
                 "cudaErrorSystemDriverMismatch", "cudaErrorDevicesUnavailable", "cudaErrorInitializationError",
                 "cudaErrorCompatNotSupportedOnDevice", "cudaErrorSystemNotReady")


def cuda_failure(run: RunResult, device: Device, phase: str) -> tuple[Status, str] | None:
    """A CUDA driver that stopped on a CUDA error (exit 6) wrote one record with `cuda_error` and
    the `phase` it was in: "setup" (no driver, no GPU, the device busy: before any kernel call,
    so the machine's fault) is a device_error naming the device; "run" (an illegal address, a
    launch failure while the kernel's calls ran) is the kernel's crash. None for anything else."""
    if not run.channel:
        return None
    recs = read_channel(run, want_plugin=False)
    rec = recs.driver
    if recs.error or not isinstance(rec, dict) or not rec.get("cuda_error"):
        return None
    err = str(rec["cuda_error"])[:400]
    if rec.get("phase") == "setup":
        hint = ""
        if any(e in err for e in NO_GPU_ERRORS):
            hint = NO_GPU_HINT
        return Status.DEVICE_ERROR, f"{phase}: {device.name}: CUDA is not available: {err}{hint}"
    gpu = rec.get("gpu") if isinstance(rec.get("gpu"), dict) else {}
    return Status.CRASH, f"{phase}: CUDA error while the kernel ran" + (f" on {gpu.get('name')}" if gpu.get("name")
                                                                        else "") + f": {err}"



def classify(run: RunResult, device: Device, phase: str) -> tuple[Status, str] | None:
    """A CUDA device's failed run, when the shared rules would get it wrong; None otherwise."""
    if run.device_error or run.timed_out or run.signal or run.returncode == 0:
        return None
    failed = cuda_failure(run, device, phase)
    if failed:
        return failed
    if run.returncode == 127 and "libcuda.so.1" in run.stderr:
        return Status.DEVICE_ERROR, (f"{phase}: {device.name}: CUDA is not available: libcuda.so.1 (the NVIDIA "
                                     f"driver, which the executable links for the driver API) is not there{NO_GPU_HINT}")
    if run.returncode == 127 and "error while loading shared libraries" in run.stderr:
        return Status.DEVICE_ERROR, (f"{phase}: {device.name} lacks a shared library the run needs: "
                                     f"{run.stderr.strip()[-400:]}; {CUDA_LIBRARY_HINT}")
    return None
