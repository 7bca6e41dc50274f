"""Issue 12 case 4: the command line never destroys data.

It refuses an output that is also an input (exit 2), keeps one answer per input when
inputs share a file name, and leaves no temporary file behind on an error or a signal.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import eicodec
from eicodec.cli import main
from tests.conftest import EXAMPLES, ROOT

TODAY = ["--today", "2024-03-01"]


def run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def decl(tmp_path: Path) -> Path:
    path = tmp_path / "x.asc"
    shutil.copy(EXAMPLES / "ap304_claim_rejected.asc", path)
    return path


def parts(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".part")]


@pytest.mark.parametrize("argv", [
    ["validate", "{x}", "--retour", "{x}"],
    ["validate", "{x}", "--retour", "{same}"],
    ["convert", "{x}", "--to", "json", "-o", "{x}"],
    ["convert", "{x}", "--to", "csv", "-o", "{link}"],
    ["report", "{x}", "--html", "{x}"],
])
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(capsys, decl: Path, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
    before = decl.read_bytes()
    link = decl.parent / "link.asc"
    os.symlink(decl, link)
    args = [a.format(x=decl, same=decl.parent / "." / "x.asc", link=link) for a in argv]
    code, _, err = run(capsys, *args, *(TODAY if args[0] != "convert" else []))
    assert code == 2 and "input" in err
    assert decl.read_bytes() == before
    assert parts(decl.parent) == []


def test_a_return_file_in_a_folder_that_would_overwrite_an_input_is_refused(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(EXAMPLES / "ap304_claim_rejected.asc", out / "x.ap305.asc")
    before = (out / "x.ap305.asc").read_bytes()
    src = tmp_path / "x.asc"
    shutil.copy(EXAMPLES / "ap304_insurer.asc", src)
    code, _, _ = run(capsys, "validate", str(src), str(out / "x.ap305.asc"), "--retour", str(out), *TODAY)
    assert code == 2 and (out / "x.ap305.asc").read_bytes() == before


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_inputs_with_the_same_name_get_distinct_answers(capsys, tmp_path: Path, jobs: str) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(EXAMPLES / "ap304_claim_rejected.asc", tmp_path / "a" / "x.asc")
    shutil.copy(EXAMPLES / "ap304_full.asc", tmp_path / "b" / "x.asc")
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, "validate", str(tmp_path / "a" / "x.asc"), str(tmp_path / "b" / "x.asc"),
                          "--retour", str(out), "--jobs", jobs, "--format", "json", *TODAY)
    results = [json.loads(line) for line in stdout.splitlines()]
    assert code in (0, 1) and [r["status"] for r in results] != []
    answers = [r["retour"] for r in results if r["retour"]]
    assert len(set(answers)) == len(answers) == 2
    for r in results:  # each answer belongs to its own input
        report = eicodec.validate(r["file"], today=__import__("datetime").date(2024, 3, 1))
        eicodec.outcome(r["file"], Path(r["retour"]).read_bytes())
        assert report.status.value == r["status"]
    assert parts(out) == []


def test_answer_paths_mirror_only_when_names_clash(tmp_path: Path) -> None:
    from eicodec.outputs import OutputConflict, answer_paths

    assert answer_paths(["p/x.asc", "q/y.asc"], tmp_path) == [tmp_path / "x.ap305.asc", tmp_path / "y.ap305.asc"]
    a, b = answer_paths([str(tmp_path / "in/a/x.asc"), str(tmp_path / "in/b/x.asc")], tmp_path / "out")
    assert a == tmp_path / "out" / "a" / "x.ap305.asc" and b == tmp_path / "out" / "b" / "x.ap305.asc"
    with pytest.raises(OutputConflict):
        answer_paths([str(tmp_path / "in" / "x.asc"), str(tmp_path / "x.ap305.asc")], tmp_path)


def test_json_objects_have_the_same_keys_for_every_file(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.asc"
    junk.write_bytes(b"hello\r\n")
    code, out, _ = run(capsys, "validate", str(EXAMPLES / "ap304_insurer.asc"), str(tmp_path / "missing.asc"),
                       str(junk), str(tmp_path), str(EXAMPLES / "ap304_claim_rejected.asc"),
                       "--format", "json", *TODAY)
    objs = [json.loads(line) for line in out.splitlines()]
    assert code == 3
    assert [o["status"] for o in objs] == ["approved", "unreadable", "unreadable", "unreadable", "rejected_records"]
    assert len({tuple(sorted(o)) for o in objs}) == 1
    assert objs[1]["error_type"] == "UnreadableInputError" and objs[1]["message"]


def test_a_failed_write_leaves_no_temporary_file(capsys, monkeypatch, decl: Path) -> None:  # type: ignore[no-untyped-def]
    import eicodec.retour

    real = eicodec.retour.write_retour

    def half(source, report, target, **kw):  # type: ignore[no-untyped-def]
        target.write(b"01" + b"9" * 400)  # a partial answer, then the disk fills up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(eicodec.retour, "write_retour", half)
    out = decl.parent / "out"
    code, stdout, _ = run(capsys, "validate", str(decl), "--retour", str(out / "x.ap305.asc"),
                          "--format", "json", *TODAY)
    monkeypatch.setattr(eicodec.retour, "write_retour", real)
    doc = json.loads(stdout)  # the report stays; why the answer is missing is said beside it
    assert code == 3 and doc["status"] == "rejected_records" and doc["retour"] is None
    assert doc["error_type"] == "OSError" and "return file not written" in doc["message"]
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_removes_the_temporary_file(tmp_path: Path, sig: int) -> None:
    target = tmp_path / "answer.asc"
    code = ("import sys, time\n"
            "from eicodec.outputs import atomic_output, cleanup_on_signals\n"
            "with cleanup_on_signals():  # (what the command line installs)\n"
            f"  with atomic_output({str(target)!r}) as fh:\n"
            "    fh.write(b'personal records' * 1000); fh.flush()\n"
            "    print('writing', flush=True)\n"
            "    time.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=ROOT)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"writing\n"
    assert len(parts(tmp_path)) == 1
    proc.send_signal(sig)
    proc.wait(timeout=20)
    assert proc.returncode != 0
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_replaces_the_target_only_when_done(tmp_path: Path) -> None:
    from eicodec.outputs import atomic_output

    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target, "w") as fh:
        fh.write("new")
        raise RuntimeError
    assert target.read_text() == "old" and parts(tmp_path) == []
    with atomic_output(target, "w") as fh:
        fh.write("new")
    assert target.read_text() == "new"


def test_a_finished_output_gets_the_usual_file_mode(tmp_path: Path) -> None:
    from eicodec.outputs import atomic_output

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    with atomic_output(tmp_path / "atomic.txt", "w") as fh:
        fh.write("x")
    assert (tmp_path / "atomic.txt").stat().st_mode == plain.stat().st_mode


def test_writing_to_a_fifo_keeps_it_a_fifo(tmp_path: Path) -> None:
    """A device or pipe given as a path (``/dev/null``, a FIFO) is written into, never
    replaced by a renamed temporary file: the library writer, the CLI and the anonymiser."""
    import stat
    import threading

    import eicodec

    data = (EXAMPLES / "ap304_full.asc").read_bytes()
    decl = eicodec.read(data)
    for write in (lambda p: eicodec.write(decl, p),
                  lambda p: main(["validate", str(EXAMPLES / "ap304_claim_rejected.asc"), "--retour", str(p),
                                  "--today", "2024-03-01"]),
                  lambda p: eicodec.anonymise_to(EXAMPLES / "ap304_full.asc", p, b"k")):
        fifo = tmp_path / "pipe"
        os.mkfifo(fifo)
        got: list[bytes] = []
        reader = threading.Thread(target=lambda got=got, fifo=fifo: got.append(fifo.read_bytes()))
        reader.start()
        write(fifo)
        reader.join(timeout=30)
        assert got and got[0].endswith(b"\r\n") and stat.S_ISFIFO(os.stat(fifo).st_mode)
        assert not list(tmp_path.glob(".*.part"))
        fifo.unlink()


# ------------------------------------------------------------------ issue 24: naming a batch's answers

def test_a_thousand_inputs_are_named_in_well_under_a_second(tmp_path: Path) -> None:
    """Linear naming: 1,000 inputs, a third of them clashing by name (a/, b/, c/)."""
    from eicodec.outputs import answer_paths

    inputs = [str(tmp_path / "in" / d / f"f{i % 334}.asc") for i, d in zip(range(1000), "abc" * 334)]
    started = time.perf_counter()
    targets = answer_paths(inputs, tmp_path / "out")
    assert time.perf_counter() - started < 0.5
    assert len(set(targets)) == 1000
    assert targets[0] == tmp_path / "out" / "a" / "f0.ap305.asc"


def test_x_asc_and_x_txt_get_distinct_answers(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from eicodec.outputs import answer_paths

    shutil.copy(EXAMPLES / "ap304_claim_rejected.asc", tmp_path / "x.asc")
    shutil.copy(EXAMPLES / "ap304_full.asc", tmp_path / "x.txt")
    out = tmp_path / "out"
    assert answer_paths([str(tmp_path / "x.asc"), str(tmp_path / "x.txt"), str(tmp_path / "y.asc")], out) == [
        out / "x.asc.ap305.asc", out / "x.txt.ap305.asc", out / "y.ap305.asc"]
    code, _, _ = run(capsys, "validate", str(tmp_path / "x.asc"), str(tmp_path / "x.txt"),
                          "--retour", str(out), "--format", "jsonl", *TODAY)
    assert code in (0, 1)
    for name in ("x.asc", "x.txt"):  # each answer answers its own input
        eicodec.outcome(tmp_path / name, (out / f"{name}.ap305.asc").read_bytes())


def test_answers_are_named_after_the_path_given_not_a_links_target(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A symlinked input is named after the link; a dangling link among same-named inputs
    fails alone and sends no answer under an absolute path."""
    from eicodec.outputs import answer_paths

    for d in ("a", "b", "c", "elsewhere"):
        (tmp_path / d).mkdir()
    shutil.copy(EXAMPLES / "ap304_claim_rejected.asc", tmp_path / "a" / "x.asc")
    shutil.copy(EXAMPLES / "ap304_full.asc", tmp_path / "elsewhere" / "target.asc")
    os.symlink(tmp_path / "elsewhere" / "target.asc", tmp_path / "b" / "x.asc")
    os.symlink(tmp_path / "nowhere.asc", tmp_path / "c" / "x.asc")
    inputs = [str(tmp_path / d / "x.asc") for d in "abc"]
    out = tmp_path / "out"
    assert answer_paths(inputs, out) == [out / d / "x.ap305.asc" for d in "abc"]
    code, stdout, _ = run(capsys, "validate", *inputs, "--retour", str(out), "--format", "json", *TODAY)
    summaries = [json.loads(line) for line in stdout.splitlines()]
    assert code == 3
    assert [s["status"] for s in summaries] == ["rejected_records", "approved", "unreadable"]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.asc")) == ["a/x.ap305.asc", "b/x.ap305.asc"]


def test_refusing_to_overwrite_an_input_sees_links_and_hard_links(tmp_path: Path) -> None:
    from eicodec.outputs import OutputConflict, answer_paths

    (tmp_path / "out").mkdir()
    shutil.copy(EXAMPLES / "ap304_full.asc", tmp_path / "in.asc")
    os.link(tmp_path / "in.asc", tmp_path / "out" / "x.ap305.asc")  # the answer's name is the input's file
    with pytest.raises(OutputConflict, match="input"):
        answer_paths([str(tmp_path / "x.asc"), str(tmp_path / "in.asc")], tmp_path / "out")
    os.unlink(tmp_path / "out" / "x.ap305.asc")
    assert answer_paths([str(tmp_path / "x.asc"), str(tmp_path / "in.asc")], tmp_path / "out")[1].name == \
        "in.ap305.asc"


def test_a_batchs_answers_are_checked_and_swept_once_not_per_pair(capsys, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 24: 10,000 answers must not cost 10,000 x 10,000 same-file tests (the check
    that no answer replaces an input is answer_paths' linear one) nor a listing of the
    answers' folder per answer (stale partial files are swept once per folder)."""
    from eicodec import outputs

    inputs = []
    for i in range(30):
        path = tmp_path / "in" / f"f{i:02d}.asc"
        path.parent.mkdir(exist_ok=True)
        shutil.copy(EXAMPLES / ("ap304_claim_rejected.asc" if i % 3 else "ap304_full.asc"), path)
        inputs.append(str(path))
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    stale = out / f".f07.ap305.asc.{int(dead.stdout)}.abcdefgh.part"  # left by a killed run
    stale.write_bytes(b"x")
    calls = {"same_file": 0, "listdir": 0}
    real_same, real_listdir = outputs.same_file, os.listdir

    def same_file(a: object, b: object) -> bool:
        calls["same_file"] += 1
        return real_same(a, b)

    def listdir(folder: object = ".") -> list[str]:
        if Path(str(folder)) == out:
            calls["listdir"] += 1
        return real_listdir(folder)  # type: ignore[arg-type]

    monkeypatch.setattr(outputs, "same_file", same_file)
    monkeypatch.setattr(os, "listdir", listdir)
    code, _, _ = run(capsys, "validate", *inputs, "--retour", str(out), "--jobs", "1", "--format", "jsonl", *TODAY)
    assert code == 1
    assert calls == {"same_file": 0, "listdir": 1}
    assert not stale.exists()
    assert len(list(out.glob("*.ap305.asc"))) == 30
    assert not parts(out)
