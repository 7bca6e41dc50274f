"""Compare the validator's findings over a corpus between two versions of eicodec.

    python scripts/findings_corpus.py generate DIR          # write generated/mutated files
    python scripts/findings_corpus.py dump DIR OUT.json     # findings/outcomes with the eicodec importable here
    python scripts/findings_corpus.py compare OLD.json NEW.json
    python scripts/findings_corpus.py retours DIR OUT.json  # the return files' bytes (SHA-256), to compare

``dump`` also takes the examples and golden files of the checkout it runs in. Run
``dump`` once with the old code (e.g. from the main checkout) and once with the new.
Not a test: a tool for proving a rewrite keeps its findings.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

TODAY = dt.date(2024, 6, 1)
ROOT = Path(__file__).resolve().parents[1]


def generate(out: Path) -> None:
    from hypothesis import HealthCheck, given, settings

    import eicodec
    from eicodec.testing import declarations, field_damaged_files, noisy_files, structurally_damaged_files

    out.mkdir(parents=True, exist_ok=True)
    counter = [0]

    def save(data: bytes, tag: str) -> None:
        counter[0] += 1
        (out / f"{tag}_{counter[0]:04d}.asc").write_bytes(data)

    common = {"suppress_health_check": list(HealthCheck), "deadline": None, "derandomize": True, "database": None}

    @settings(max_examples=60, **common)
    @given(declarations(max_insured=3))
    def valid(decl):  # type: ignore[no-untyped-def]
        save(eicodec.dumps(decl), "valid")

    @settings(max_examples=120, **common)
    @given(noisy_files(max_insured=3))
    def corrupted(data):  # type: ignore[no-untyped-def]
        save(data, "corrupt")

    @settings(max_examples=160, **common)
    @given(field_damaged_files(max_insured=4))
    def fields(data):  # type: ignore[no-untyped-def]
        save(data, "field")

    @settings(max_examples=120, **common)
    @given(structurally_damaged_files(max_insured=4))
    def structural(data):  # type: ignore[no-untyped-def]
        save(data, "struct")

    for fn in (valid, corrupted, fields, structural):
        fn()
    print(f"{counter[0]} files in {out}")


def dump(corpus: Path, out: Path) -> None:
    import eicodec

    files = sorted(ROOT.glob("examples/*.asc")) + sorted(ROOT.glob("tests/golden/*.asc")) + sorted(corpus.glob("*.asc"))
    result = {}
    for p in files:
        data = p.read_bytes()
        for mode in ("insurer", "vecozo"):
            key = f"{p.name}:{mode}"
            try:
                rep = eicodec.validate(data, mode=mode, today=TODAY)
            except eicodec.EicodecError as exc:
                result[key] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            result[key] = {
                "status": rep.status.value,
                "findings": [[f.code, f.level, f.line, f.record_type, f.rubric, f.rule, f.message, f.provisional]
                             for f in rep.findings],
                "outcomes": [[o.line, o.record_type, o.verdict.value, list(o.codes)] for o in rep.outcomes.values()],
                "counts": rep.counts,
            }
    out.write_text(json.dumps(result, indent=0, sort_keys=True))
    print(f"{len(result)} reports -> {out}")


def retours(corpus: Path, out: Path) -> None:
    """Per file and mode the AP305 bytes (their SHA-256, or the error) as the eicodec
    importable here writes them: plain, with an insurer's reference, from a file object,
    and with an award for the first claim line. ``compare`` two dumps of old and new code."""
    import hashlib
    import io

    import eicodec
    from eicodec.rules import answer_for

    files = sorted(ROOT.glob("examples/*.asc")) + sorted(ROOT.glob("tests/golden/*.asc")) + sorted(corpus.glob("*.asc"))
    result = {}
    for p in files:
        data = p.read_bytes()
        for mode in ("insurer", "vecozo"):
            try:
                rep = eicodec.validate(data, mode=mode, today=TODAY)
            except eicodec.EicodecError as exc:
                result[f"{p.name}:{mode}"] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            try:
                answer = answer_for(rep.spec)
                claim_t = answer.claim_type(rep.spec)
                ref = rep.spec.field(claim_t, answer.claim_reference).slice
                first = next((ln[ref].rstrip(" ") for ln in data.decode("latin-1").split("\r\n")
                              if ln[:2] == claim_t), None)
            except eicodec.EicodecError:
                first = None
            variants: dict[str, tuple[object, dict[str, object]]] = {
                "plain": (data, {}), "path": (p, {"insurer_reference": "REF1"}),
                "fileobj": (io.BytesIO(data), {})}
            if first:
                variants["award"] = (data, {"awards": {first: 1}})
            for name, (source, kw) in variants.items():
                key = f"{p.name}:{mode}:{name}"
                try:
                    body = eicodec.dumps_retour(source, rep, **kw)  # type: ignore[arg-type]
                    result[key] = {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
                except eicodec.EicodecError as exc:
                    result[key] = {"error": f"{type(exc).__name__}: {exc}"}
    out.write_text(json.dumps(result, indent=0, sort_keys=True))
    print(f"{len(result)} return files -> {out}")


def compare(a: Path, b: Path) -> int:
    old, new = json.loads(a.read_text()), json.loads(b.read_text())
    bad = 0
    for key in sorted(set(old) | set(new)):
        x, y = old.get(key), new.get(key)
        if x is None or y is None:
            print(f"{key}: only in {'new' if x is None else 'old'}")
            bad += 1
            continue
        if "findings" in x and "findings" in y:
            fx = sorted(map(json.dumps, x["findings"]))
            fy = sorted(map(json.dumps, y["findings"]))
            same = (x["status"] == y["status"] and fx == fy and x["outcomes"] == y["outcomes"]
                    and x["counts"] == y["counts"])
        else:
            same = x == y
        if not same:
            bad += 1
            print(f"--- {key}")
            if "findings" in x and "findings" in y:
                if x["status"] != y["status"]:
                    print(f"  status {x['status']} -> {y['status']}")
                for f in sorted(set(fx) - set(fy)):
                    print(f"  - {f}")
                for f in sorted(set(fy) - set(fx)):
                    print(f"  + {f}")
                ox = {tuple(map(json.dumps, o)) for o in x["outcomes"]}
                oy = {tuple(map(json.dumps, o)) for o in y["outcomes"]}
                for o in sorted(ox - oy):
                    print(f"  outcome - {o}")
                for o in sorted(oy - ox):
                    print(f"  outcome + {o}")
                if x["counts"] != y["counts"]:
                    print(f"  counts {x['counts']} -> {y['counts']}")
            else:
                print(f"  {x} -> {y}")
    print(f"{bad} of {len(set(old) | set(new))} reports differ")
    return 1 if bad else 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "generate":
        generate(Path(sys.argv[2]))
    elif cmd == "dump":
        dump(Path(sys.argv[2]), Path(sys.argv[3]))
    elif cmd == "retours":
        retours(Path(sys.argv[2]), Path(sys.argv[3]))
    elif cmd == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
