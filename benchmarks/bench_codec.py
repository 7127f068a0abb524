"""Feature codec benchmark: encode/decode latency and throughput per codec.

Tensors: AlexNet's point-1 feature (64x55x55 float32, 0.74 MB) and ResNet152's point-1 feature
(64x112x112, 3.06 MB), filled with ReLU'd Gaussian noise (about half zeros, like real features).
For each codec and input kind (numpy array, or CPU torch tensor as the split model produces),
reports the median over --repeats of: encode (tensor -> header + payload bytes), decode (bytes ->
float32 array/tensor), the ROS path (to_payload + array.array("B") for a uint8[] field), the
encoded size and the error. MB/s is float32 MB (2^20 bytes) of tensor per second.

    PYTHONPATH=. venv/bin/python benchmarks/bench_codec.py [--repeats 50] [--threads 1]
"""

import argparse
import statistics
import time

import numpy as np

from robust_offload.dnn.codec import CODECS, decode, encode, to_payload

SHAPES = {"alexnet m=1": (64, 55, 55), "resnet152 m=1": (64, 112, 112)}
MB = 2**20


def _median_s(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50, help="timed runs per cell (median)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    kinds = ["numpy"] + (["torch"] if torch is not None else [])

    header = (f"{'tensor':<14} {'MB':>5} {'input':<6} {'codec':<8} {'enc ms':>7} {'enc MB/s':>9} "
              f"{'dec ms':>7} {'dec MB/s':>9} {'ros ms':>7} {'bytes':>9} {'ratio':>5} "
              f"{'max err':>9} {'rel rmse':>9}")
    print(header)
    print("-" * len(header))
    for label, shape in SHAPES.items():
        rng = np.random.default_rng(0)
        x = np.maximum(rng.standard_normal(shape, dtype=np.float32), 0)
        mb = x.nbytes / MB
        for kind in kinds:
            tensor = torch.from_numpy(x) if kind == "torch" else x
            as_numpy = kind == "numpy"
            for name in CODECS:
                data = encode(tensor, name)
                y = np.asarray(decode(data, as_numpy=True))
                enc = _median_s(lambda: encode(tensor, name), args.repeats)
                dec = _median_s(lambda: decode(data, as_numpy=as_numpy), args.repeats)
                ros = _median_s(lambda: to_payload(tensor, name).data_array(), args.repeats)
                err = np.abs(y - x)
                rmse = float(np.sqrt(np.mean(err**2)) / np.sqrt(np.mean(x**2)))
                print(f"{label:<14} {mb:>5.2f} {kind:<6} {name:<8} {enc * 1e3:>7.3f} "
                      f"{mb / enc:>9.0f} {dec * 1e3:>7.3f} {mb / dec:>9.0f} {ros * 1e3:>7.3f} "
                      f"{len(data):>9d} {x.nbytes / len(data):>5.2f} {err.max():>9.2e} "
                      f"{rmse:>9.2e}")


if __name__ == "__main__":
    main()
