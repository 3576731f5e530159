"""Build the browser decoder's WebAssembly SIMD kernel, genlab/ui/static/decoder_kernel.wasm.

    python tools/build_decoder_kernel.py            # rebuild decoder_kernel.wasm and its record
    python tools/build_decoder_kernel.py --check    # exit 1 when the committed .wasm differs from a rebuild

Needs clang and wasm-ld (Debian 12: `apt-get install clang lld` gives clang 14.0.6, the compiler of
the committed kernel). The .wasm is committed, so neither the app, its tests nor CI need clang: the
page fetches it as a static file (genlab/ui/sliders.py serves that one file) and decoder.js falls back
to plain JavaScript where it cannot load. decoder_kernel.build.json records the compiler, the flags
and the kernel's size and SHA-256: the same source, flags and clang give the same bytes, which the
tests check when that clang is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STATIC = REPO / "genlab" / "ui" / "static"
SOURCE = STATIC / "decoder_kernel.c"
WASM = STATIC / "decoder_kernel.wasm"
RECORD = STATIC / "decoder_kernel.build.json"

CLANG_FLAGS = [
    "--target=wasm32", "-msimd128", "-O3", "-nostdlib",
    "-fno-builtin",  # else clang turns some accumulator copies into memcpy through the stack
    "-Wl,--no-entry", "-Wl,--import-memory", "-Wl,--export=__heap_base", "-Wl,--strip-all",
]


def clang_version(clang: str = "clang") -> str:
    """The first line of `clang --version`, e.g. "Debian clang version 14.0.6"."""
    return subprocess.run([clang, "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0].strip()


def compile_kernel(clang: str = "clang") -> bytes:
    """decoder_kernel.c -> the .wasm bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "decoder_kernel.wasm"
        subprocess.run([clang, *CLANG_FLAGS, "-o", str(out), str(SOURCE)], check=True)
        return out.read_bytes()


def record(wasm: bytes, compiler: str) -> dict:
    """What decoder_kernel.build.json holds for `wasm`."""
    return {"compiler": compiler, "flags": CLANG_FLAGS, "bytes": len(wasm),
            "sha256": hashlib.sha256(wasm).hexdigest()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="compare instead of writing")
    p.add_argument("--clang", default="clang")
    args = p.parse_args()
    if shutil.which(args.clang) is None:
        print(f"{args.clang} is not installed (Debian: apt-get install clang lld)", file=sys.stderr)
        return 2
    wasm, compiler = compile_kernel(args.clang), clang_version(args.clang)
    if args.check:
        same = WASM.exists() and WASM.read_bytes() == wasm and json.loads(RECORD.read_text()) == record(wasm, compiler)
        print(f"{'up to date' if same else 'DIFFERS from a rebuild'}: {WASM.name} and {RECORD.name} ({compiler})")
        return 0 if same else 1
    WASM.write_bytes(wasm)
    RECORD.write_text(json.dumps(record(wasm, compiler), indent=2) + "\n")
    print(f"Wrote {WASM.relative_to(REPO)} ({len(wasm)} bytes) and {RECORD.name} ({compiler})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
