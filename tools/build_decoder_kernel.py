"""Build the browser decoder's WebAssembly SIMD kernel and embed it in decoder.js.

    python tools/build_decoder_kernel.py            # rebuild genlab/ui/static/decoder_kernel.wasm
    python tools/build_decoder_kernel.py --check    # exit 1 when the committed files differ from a rebuild

Needs clang and wasm-ld (Debian: `apt-get install clang lld`). The .wasm is committed and decoder.js
carries a base64 copy of it (the page loads decoder.js inline, so the kernel needs no extra request
and nothing is built when the app runs). The compiler's version is recorded next to the copy: the
same source and the same clang give the same bytes.
"""

from __future__ import annotations

import argparse
import base64
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STATIC = REPO / "genlab" / "ui" / "static"
SOURCE = STATIC / "decoder_kernel.c"
WASM = STATIC / "decoder_kernel.wasm"
DECODER_JS = STATIC / "decoder.js"

CLANG_FLAGS = [
    "--target=wasm32", "-msimd128", "-O3", "-nostdlib",
    "-fno-builtin",  # else clang turns some accumulator copies into memcpy through the stack
    "-Wl,--no-entry", "-Wl,--import-memory", "-Wl,--export=__heap_base", "-Wl,--strip-all",
]
# The lines of decoder.js this script owns.
EMBED = re.compile(r'(  // kernel: [^\n]*\n  const KERNEL_WASM = ")[A-Za-z0-9+/=]*(";\n)')


def clang_version(clang: str = "clang") -> str:
    """The first line of `clang --version`, e.g. "Debian clang version 14.0.6"."""
    return subprocess.run([clang, "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0].strip()


def compile_kernel(clang: str = "clang") -> bytes:
    """decoder_kernel.c -> the .wasm bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "decoder_kernel.wasm"
        subprocess.run([clang, *CLANG_FLAGS, "-o", str(out), str(SOURCE)], check=True)
        return out.read_bytes()


def embedded(js: str) -> tuple[str, bytes]:
    """(compiler line, kernel bytes) embedded in decoder.js's text."""
    m = re.search(r'  // kernel: ([^\n]*)\n  const KERNEL_WASM = "([A-Za-z0-9+/=]*)";\n', js)
    if not m:
        raise SystemExit(f"{DECODER_JS} has no kernel lines to fill")
    return m.group(1), base64.b64decode(m.group(2))


def embed(js: str, wasm: bytes, compiler: str) -> str:
    """decoder.js's text with `wasm` embedded."""
    line = f"  // kernel: {compiler}, {len(wasm)} bytes (tools/build_decoder_kernel.py; do not edit)\n"
    new, n = EMBED.subn(lambda m: line + '  const KERNEL_WASM = "' + base64.b64encode(wasm).decode() + m.group(2),
                        js)
    if n != 1:
        raise SystemExit(f"{DECODER_JS} has no kernel lines to fill")
    return new


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="compare instead of writing")
    p.add_argument("--clang", default="clang")
    args = p.parse_args()
    if shutil.which(args.clang) is None:
        print(f"{args.clang} is not installed (Debian: apt-get install clang lld)", file=sys.stderr)
        return 2
    wasm, compiler = compile_kernel(args.clang), clang_version(args.clang)
    js = DECODER_JS.read_text()
    if args.check:
        same = WASM.exists() and WASM.read_bytes() == wasm and embedded(js)[1] == wasm
        print(f"{'up to date' if same else 'DIFFERS from a rebuild'}: {WASM.name} and decoder.js ({compiler})")
        return 0 if same else 1
    WASM.write_bytes(wasm)
    DECODER_JS.write_text(embed(js, wasm, compiler))
    print(f"Wrote {WASM.relative_to(REPO)} ({len(wasm)} bytes) and its copy in {DECODER_JS.relative_to(REPO)} ({compiler})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
