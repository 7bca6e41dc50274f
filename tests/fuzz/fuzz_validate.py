"""Coverage-guided fuzz target for eicodec (atheris). Not part of the test run.

    pip install atheris
    python tests/fuzz/fuzz_validate.py -atheris_runs=200000 tests/fuzz/corpus

Seeds: copy ``examples/*.asc`` into ``tests/fuzz/corpus/`` first. The target feeds
arbitrary bytes to every entry point; any exception other than eicodec's own errors is
a bug (atheris reports it with the input that caused it).
"""

from __future__ import annotations

import datetime as dt
import sys

import atheris

with atheris.instrument_imports():
    import eicodec

TODAY = dt.date(2024, 3, 1)


def one_input(data: bytes) -> None:
    try:
        for rec in eicodec.iter_records(data):
            if rec.layout is not None and len(rec.raw) == rec.layout.length:
                for f in rec.layout.fields:
                    try:
                        rec.get(f.attr)
                    except eicodec.DecodeError:
                        pass
        decl = eicodec.read(data)
        try:
            eicodec.dumps(decl)
        except eicodec.EncodeError:
            pass
        for mode in ("insurer", "vecozo"):
            report = eicodec.validate(data, mode=mode, today=TODAY)
            if report.status is not eicodec.Status.APPROVED or mode == "insurer":
                try:
                    eicodec.dumps(eicodec.build_retour(data, report, return_date=TODAY))
                except eicodec.EicodecError:
                    pass
    except eicodec.EicodecError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
