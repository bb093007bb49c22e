"""Speed and memory on the CPU, torch only: the fused LM-head loss (`lm_loss`), CPU
matrix-product routing (`cpu_matmul`) and freed-memory reuse (`memory`).

May import: `textgen_core.config`, `families`, `precision`, `cpuinfo`, `errors` (nothing
else of textgen).
"""
