"""The command-line options several commands share (one definition each, one help text each)."""
from __future__ import annotations

import typer

DeviceOpt = typer.Option(None, "--device", "-d", help="Device name or alias (repeatable).")
SHAPE_HELP = ("gemm: MxNxK; conv2d: NxCxHxW,KxRxS,s1,p1 (stride, pad; e.g. 1x64x56x56,64x3x3,s1,p1); "
              "gemm_batched: BATCHxMxNxK")
ShapeOpt = typer.Option("256x256x256", "--shape", "-s", help="MxNxK.")
OpOpt = typer.Option("gemm", "--op", help="Operator: gemm, conv2d, gemm_batched (harness/ops/).")
DtypeOpt = typer.Option("f32", "--dtype", help="Data type: f32; gemm also f16, bf16 (f32 accumulation and C) and i8 (exact int32 C).")
JsonOpt = typer.Option(False, "--json", help="One JSON object per trial on stdout.")
ConfigOpt = typer.Option(None, "--devices-file", help="devices.yaml to use (default: the workspace's).")
ShapesOpt = typer.Option(None, "--shape", "-s", help=SHAPE_HELP + " (repeatable; default: the op's default, "
                         "256x256x256 for gemm).")
SuiteOpt = typer.Option(None, "--suite", help="A built-in shape suite instead of --shape: paper-conv "
                        "(the paper's conv layers, N,C,H,W/K,R,S: batch 1 on emulated devices); llama "
                        "(Llama-7B and Llama-3-70B projection GEMMs at M = 1, 16, 128; any --dtype; "
                        "emulated devices: Llama-7B at M = 1).")
ScaleOpt = typer.Option(1.0, "--scale", help="With --suite on real devices: run this fraction of each layer's "
                        "batch (at least 1 image), e.g. 0.0625; the scaling is printed.")
# the measurement overrides bench and baseline share (harness.core.measure_options.MeasureOptions)
MaxTimeOpt = typer.Option(None, "--max-time", help="Sampling budget per trial, seconds.")
MinSamplesOpt = typer.Option(None, "--min-samples")
MaxSamplesOpt = typer.Option(None, "--max-samples")
WarmupOpt = typer.Option(None, "--warmup")
RelCiOpt = typer.Option(None, "--rel-ci")
FlushOpt = typer.Option(False, "--flush/--no-flush", help="Flush caches before each sample.")
