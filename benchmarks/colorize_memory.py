"""How many bytes per pixel does colorizing one large PNG take?

    python benchmarks/colorize_memory.py [--sides 256 3000 6000] [--rgb] [--ngf 8]

Writes a grey (or RGB) PNG of each side, then runs ``sarcolor colorize`` on it in a fresh
process and reads that process's peak resident memory (``VmHWM``). The smallest side is
the baseline (imports, model); the bytes per pixel are the growth between the two largest
sides over their pixel difference, which is what ``COLORIZE_BYTES_PER_PIXEL`` in
``sarcolor.inference.files`` (plus ``read_image``'s own decoding estimate) must cover.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

FLAGS = ["--no-progress", "--precision", "fp32"]
MEASURE = """
import json, sys
from sarcolor.cli.main import main
rc = main(sys.argv[1:])
with open("/proc/self/status") as fh:  # VmHWM: ru_maxrss can carry the parent's peak over exec
    rss = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))
print(json.dumps({"rc": rc, "rss": rss}))
"""


def peak(argv: list[str]) -> int:
    done = subprocess.run([sys.executable, "-c", MEASURE, *argv], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"colorize failed: {done.stderr}")
    return int(result["rss"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sides", type=int, nargs="+", default=[256, 3000, 6000])
    parser.add_argument("--rgb", action="store_true", help="RGB inputs instead of grey")
    parser.add_argument("--ngf", type=int, default=8)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import untrained_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ckpt = untrained_checkpoint(root / "m.safetensors", ngf=args.ngf)
        peaks = {}
        for side in args.sides:
            shape = (side, side, 3) if args.rgb else (side, side)
            path = root / f"{side}.png"
            Image.fromarray(np.full(shape, 100, np.uint8)).save(path)
            out = str(root / f"o{side}")
            peaks[side] = peak(["colorize", str(path), "--checkpoint", str(ckpt), "--out", out, *FLAGS])
            print(f"{side}×{side}: peak RSS {peaks[side] / 1e6:.0f} MB", flush=True)
        a, b = sorted(args.sides)[-2:]
        print(f"{'RGB' if args.rgb else 'grey'}: {(peaks[b] - peaks[a]) / (b * b - a * a):.1f} bytes/pixel "
              f"({a}² → {b}²)")  # fmt: skip


if __name__ == "__main__":
    main()
