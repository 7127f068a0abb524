"""Offline studies: the paper's experiments reproduced (Sec. VI), and the profiler that
measures a model's per-point times and sizes."""
