"""The compile cache (`toygan.engine.cache`), on the installed `toygan` command in subprocesses: a run fills
the folder `TOYGAN_COMPILE_CACHE` names; a second run finds it at the default place, compiles nothing
new and gives the same numbers; a run that differs only in its learning rates starts from its own
rates; a first run compiles each of its programs once; `--no-compile-cache` writes nothing; a folder
that cannot be written is a one-line error."""

import os
import re
import subprocess
from collections import Counter
from pathlib import Path

import matplotlib
import pytest
from conftest import SMALL_CLI, TOYGAN

RUN = ["run", "two-gaussians", "--steps", "100", "--no-live", *SMALL_CLI]
RECORDS = ("metrics.csv", "losses.csv", "summary.json")
# toygan's own programs of a run: each is compiled once (the first frame's are compiled ahead in threads).
PROGRAMS = ("init_state", "_comparison", "_reference", "observe", "_advance")


def toygan(*args, user: Path, env: dict[str, str] | None = None, code: int = 0) -> subprocess.CompletedProcess:
    """The command with the user's cache folder in `user` (matplotlib's kept where it is: it would rebuild
    its font list) and the default compile cache unless `env` says otherwise."""
    environment = {k: v for k, v in os.environ.items() if k not in ("TOYGAN_COMPILE_CACHE", "JAX_COMPILATION_CACHE_DIR", "DISPLAY")}
    environment.update(XDG_CACHE_HOME=str(user / ".cache"), MPLCONFIGDIR=matplotlib.get_cachedir(), MPLBACKEND="Agg", **(env or {}))
    done = subprocess.run([TOYGAN, *map(str, args)], env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == code, done.stderr[-3000:]
    return done


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def records(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in RECORDS}


@pytest.fixture(scope="module")
def user(tmp_path_factory) -> Path:
    """A user folder whose default compile cache ($XDG_CACHE_HOME/toygan/compiled) a first run filled,
    told where by TOYGAN_COMPILE_CACHE."""
    user = tmp_path_factory.mktemp("user")
    done = toygan(*RUN, "--out", user / "first", user=user, env={"TOYGAN_COMPILE_CACHE": str(user / "told"), "JAX_LOG_COMPILES": "1"})
    (user / "first.log").write_text(done.stderr)
    default = user / ".cache" / "toygan" / "compiled"
    default.parent.mkdir(parents=True)
    (user / "told").rename(default)
    return user


def test_a_second_run_compiles_nothing_and_gives_the_same_numbers(user):
    cache = user / ".cache" / "toygan" / "compiled"
    before = files(cache)
    assert any(name.startswith("jax/") for name in before), "the first run left no compiled program where it was told"
    assert any(name.startswith("results/") for name in before), "the first run left no reference figures"
    toygan(*RUN, "--out", user / "second", user=user)
    assert files(cache) == before, "the second run compiled or computed something the first had kept"
    assert records(user / "second") == records(user / "first")


def test_a_run_with_other_learning_rates_starts_from_its_own(user):
    """The kept initial state holds the rates, which the programs take as input: other rates are other results."""
    toygan(*RUN, "-s", "train.lr_generator=2e-3", "-s", "train.lr_discriminator=3e-3", "--out", user / "other", user=user)
    rates = [line.split(",")[-2:] for line in (user / "other" / "losses.csv").read_text().splitlines()[1:]]
    assert rates == [["0.002", "0.003"]] * len(rates)


def test_a_first_run_compiles_each_program_once(user):
    compiled = Counter(re.findall(r"Finished XLA compilation of jit\((\w+)\)", (user / "first.log").read_text()))
    assert {name: compiled[name] for name in PROGRAMS} == dict.fromkeys(PROGRAMS, 1)


def test_turned_off_it_writes_nothing(tmp_path):
    toygan("--no-compile-cache", *RUN, "--views", "none", "--out", tmp_path / "run", user=tmp_path)
    assert files(tmp_path / ".cache") == set()
    assert (tmp_path / "run" / "summary.json").is_file()


def test_a_folder_that_cannot_be_written_is_a_one_line_error(tmp_path):
    done = toygan(*RUN, "--out", tmp_path / "run", user=tmp_path, env={"TOYGAN_COMPILE_CACHE": "/proc/toygan"}, code=2)
    assert done.stderr.strip().splitlines() == [
        "error: cannot write the compile cache folder /proc/toygan (No such file or directory): "
        "set TOYGAN_COMPILE_CACHE to a writable folder, or to off"
    ]
    assert not (tmp_path / "run").exists()
