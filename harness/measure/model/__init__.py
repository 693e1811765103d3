"""Modelled cycles for emulated devices (docs/CYCLE_MODEL.md).

The QEMU plugin (qemu/tensorop_plugin.c, `blocks=FD`) records the translation blocks executed
inside the kernel region; llvm-mca gives each block's steady-state cycles on the device's core
model (devices.yaml `core_model`); modelled cycles = sum of count x block cycles.

    profile.py   parse the plugin's block profile
    mca.py       llvm-mc disassembly and llvm-mca timing, batched and cached on disk
    cycles.py    model_from_blocks(...) -> ModelResult
    loops.py     short loops costed as a whole on out-of-order cores (the overlap of consecutive entries)
    memory.py    the cache hierarchy per core and the combination with the memory stalls
    run.py       run a built artifact under the device's QEMU with the plugin (subprocess)
    plugin.py    the plugin's options for a run, and what its record says of the counted call
    outcome.py   one trial's modelled cycles (the runner calls modelled())
(`tensorop model validate`, the model against native timings on this host: harness/campaign/model_validation.py)
"""
from harness.measure.model.cycles import ModelResult, model_from_blocks
from harness.measure.model.profile import Block, Profile, parse_blocks

__all__ = ["ModelResult", "model_from_blocks", "Block", "Profile", "parse_blocks"]
