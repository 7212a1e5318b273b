"""What the benchmark peers (torch_step.py, jax_step.py) must know before
their framework loads: the thread count, which sizes the BLAS / XLA pools."""
import sys


def threads_from_argv(default=2):
    """--threads N (or --threads=N) from the command line, before argparse."""
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return default
