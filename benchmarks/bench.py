"""eicodec benchmark: records/s and peak memory. Standard library only.

    python benchmarks/bench.py [--records N] [--ops a,b] [--repeat N] [--keep DIR]

Generates an AP304 v8.0 file of about N records (mixed insured groups, comments, credit
lines) once, then measures each operation in a fresh child process so that the peak
resident memory of one does not hide another. Prints one JSON object per measurement.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # (its sibling, also when loaded by path)
from gz321 import generate_gz321


def _bsn(n: int) -> str:
    """A BSN passing the 11-proef, another for every n (as eicodec.testing.nth_bsn)."""
    for head in (f"{10_000_000 + 2 * n:08d}", f"{10_000_000 + 2 * n + 1:08d}"):
        last = sum(int(d) * w for d, w in zip(head, (9, 8, 7, 6, 5, 4, 3, 2))) % 11
        if last < 10:
            return head + str(last)
    raise AssertionError("unreachable")


def generate(path: Path, n_records: int, reject_every: int = 0, one_insured: bool = False) -> int:
    """Write an AP304 file of about *n_records* records; returns the exact count.

    Valid, unless *reject_every* is set: then every n-th claim line has an unknown
    prestatiecodelijst (0413), so that it is rejected at record level. *one_insured*:
    one verzekerdenrecord with every claim line under it (no comments; at most 999,999
    claim lines, what the sluitrecord can count).
    """
    import eicodec

    spec = eicodec.get_spec("AP304")
    header = spec.new("01", message_kind="P", uzovi="3311", provider_code="02012345",
                      practice_code="02000123", payee_code="03", period_start=dt.date(2024, 1, 1),
                      period_end=dt.date(2024, 1, 31), invoice_number="BENCH-1",
                      invoice_date=dt.date(2024, 2, 5), currency="EUR")
    ins_t = spec.new("02", bsn="123456782", uzovi="3311", birth_date=dt.date(1956, 3, 14), gender="2",
                     name_code_1="1", surname_1="Vries", initials="J.", name_code_2="0",
                     name_code_3="0", postcode="3511AB", house_number=12, patient_registration="J",
                     deceased="2")
    claim_t = spec.new("04", bsn="123456782", uzovi="3311", forwarding_allowed="1",
                       birth_date=dt.date(1956, 3, 14), information_record="N",
                       service_date=dt.date(2024, 1, 8), service_code_list_1="001",
                       service_code_1="00000014325911", quantity=30, performer_code="02012345",
                       compounding_indicator="3", wmg_price_system="1", gvs_included="9",
                       tariff=1250, calculated_amount_signed=1250, vat_percentage=900,
                       vat_amount=103, declared_amount_signed=1250, reference="R",
                       service_link_number="K1")
    comment_t = spec.comments("Toelichting bij deze regel.")[0]
    count, rid, total, claims = 1, 0, 0, 0
    with path.open("wb") as fh:
        fh.write((header.raw + "\r\n").encode())
        g = 0
        while count < n_records - 1:
            g += 1
            rid += 1
            ins = ins_t.copy()
            ins.record_id = rid
            bsn = _bsn(g)  # one verzekerdenrecord per insured (STB §5.2)
            ins.bsn = bsn
            fh.write((ins.raw + "\r\n").encode())
            count += 1
            for k in range(min(n_records - 3, 999_999) if one_insured else 1 + g % 4):
                rid += 1
                claims += 1
                c = claim_t.copy()
                c.record_id = rid
                c.bsn = bsn
                c.reference = f"R{claims:015d}"
                if reject_every and claims % reject_every == 0:
                    c.service_code_list_1 = "777"
                if claims % 20 == 0:
                    c.previous_reference = f"P{claims:015d}"
                    c.calculated_amount_dc = "C"
                    c.declared_amount_dc = "C"
                    total -= 1250
                else:
                    total += 1250
                fh.write((c.raw + "\r\n").encode())
                count += 1
                if (g + k) % 7 == 0 and not one_insured:
                    cm = comment_t.copy()
                    cm.record_id = rid
                    cm.line_number = 1
                    fh.write((cm.raw + "\r\n").encode())
                    count += 1
            if one_insured:
                break
        count += 1
    # rewrite the trailer with the real counts
    recs = eicodec.iter_records(path)
    counts: dict[str, int] = {}
    for rec in recs:
        counts[rec.record_type] = counts.get(rec.record_type, 0) + 1
    # (a file of more records than the sluitrecord's counts can hold, e.g. 5,000,000
    # records: the counts at their largest value; validating it finds file.trailer_count)
    lay = spec.layout(spec.trailer)
    fitted = dict(counts)
    for rubric, types in spec.counts.items():
        most = 10 ** lay.by_rubric[rubric].length - 1
        while sum(fitted.get(t, 0) for t in types) > most:
            t = max(types, key=lambda t: fitted.get(t, 0))
            fitted[t] -= sum(fitted.get(t, 0) for t in types) - most
    trailer = eicodec.writer.trailer_from_counts(spec, fitted, {spec.totals[0].rubric: total})
    with path.open("ab") as fh:
        fh.write((trailer.raw + "\r\n").encode())
    return count


def reject_lines(src: Path, dst: Path, every: int) -> int:
    """Copy *src*, giving every n-th claim line an unknown prestatiecodelijst (0413)."""
    n = claims = 0
    with src.open("rb") as fin, dst.open("wb") as fout:
        for line in fin:
            n += 1
            if line.startswith(b"04"):
                claims += 1
                if claims % every == 0:
                    line = line[:91] + b"777" + line[94:]
            fout.write(line)
    return n


OPS = {
    # `import eicodec` in a fresh interpreter (issue #26: <= 0.12 s); measured by measure_import
    "import": ("none", ""),
    "lines": ("valid", "n = sum(1 for _ in open(PATH, 'rb'))"),
    "iter_records": ("valid", "import eicodec\nn = sum(1 for _ in eicodec.iter_records(PATH))"),
    "read": ("valid", "import eicodec\nd = eicodec.read(PATH)\nn = sum(1 for _ in d.iter_records())"),
    "validate": ("valid", ("import eicodec, datetime\n"
                 "r = eicodec.validate(PATH, today=datetime.date(2024, 6, 1))\n"
                 "assert r.status.value == 'approved' or {f.rule for f in r.findings} == {'file.trailer_count'}, "
                 "r.findings[:3]\nn = sum(r.counts.values())")),
    "validate_10pct_rejected": ("rejected", ("import eicodec, datetime\n"
                                "r = eicodec.validate(PATH, today=datetime.date(2024, 6, 1))\n"
                                "assert r.status.value.startswith('rejected')\nn = sum(r.counts.values())")),
    # one verzekerdenrecord with all the claim lines under it (at most 999,999; issue #26: < 150 MB)
    "validate_one_insured": ("one", ("import eicodec, datetime\n"
                             "r = eicodec.validate(PATH, today=datetime.date(2024, 6, 1))\n"
                             "assert r.status.value == 'approved', r.findings[:3]\nn = sum(r.counts.values())")),
    "validate_half_rejected": ("half", ("import eicodec, datetime\n"
                               "r = eicodec.validate(PATH, today=datetime.date(2024, 6, 1))\n"
                               "assert r.status.value.startswith('rejected')\nn = sum(r.counts.values())")),
    "columns_04_records": ("valid", ("import eicodec\nlay = eicodec.get_spec('AP304').layout('04')\n"
                           "rows = [[r.get(f.attr) for f in lay.fields] for r in eicodec.iter_records(PATH)"
                           " if r.record_type == '04']\nn = len(rows)")),
    "columns_04": ("valid", "import eicodec\nn = sum(len(b) for b in eicodec.iter_columns(PATH, '04'))"),
    # the whole table at once (issue #26: within 1.5x the time of columns_04 and 2x the
    # result's size in memory); result_mb is the size of the arrays returned
    "columns_04_whole": ("valid", ("import eicodec\nc = eicodec.columns(PATH, '04')\nn = len(c['line'])\n"
                         "_t1, _c1 = time.perf_counter(), time.process_time()\n"
                         "_extra = {'result_mb': round(sum(a.nbytes for a in c.values()) / 2**20, 1)}")),
    # the command line's `convert --to csv` (one row per claim line, insured joined, masked),
    # in the process (imports outside the timing); n = claim lines (rows)
    "csv_04": ("valid", ("from eicodec import cli\nimport os\n"
               "_t0, _c0 = time.perf_counter(), time.process_time()\n"
               "cli.main(['convert', PATH, '--to', 'csv', '-o', PATH + '.csv'])\n"
               "_t1, _c1 = time.perf_counter(), time.process_time()\n"
               "with open(PATH + '.csv', 'rb') as _fh:\n"
               "    n = sum(_b.count(b'\\n') for _b in iter(lambda: _fh.read(1 << 20), b'')) - 1\n"
               "os.remove(PATH + '.csv')")),
    # claim lines (rows) to Parquet, insured joined on, streamed in row groups; pyarrow's
    # import is a one-time cost (not timed, but in the peak memory); n = claim lines
    "parquet_04": ("valid", ("import os, pyarrow.parquet\nimport time as _t\n"
                   "_t0, _c0 = _t.perf_counter(), _t.process_time()\n"
                   "n = eicodec.to_parquet(PATH, PATH + '.parquet')\nos.remove(PATH + '.parquet')")),
    # the same with the AP305 of the 10%-rejected file joined (built before the timing;
    # the peak memory includes validating and writing it)
    "parquet_04_ap305": ("rejected", ("import os, datetime, pyarrow.parquet\nimport time as _t\n"
                         "r = eicodec.validate(PATH, today=datetime.date(2024, 6, 1))\n"
                         "eicodec.write_retour(PATH, r, PATH + '.ap305', return_date=datetime.date(2024, 6, 2))\n"
                         "del r\n_t0, _c0 = _t.perf_counter(), _t.process_time()\n"
                         "n = eicodec.to_parquet(PATH, PATH + '.parquet', ap305=PATH + '.ap305')\n"
                         "os.remove(PATH + '.parquet'); os.remove(PATH + '.ap305')")),
    "validate_and_retour": ("rejected", ("import eicodec, datetime, os\n"
                            "r = eicodec.validate(PATH, today=datetime.date(2024, 6, 1))\n"
                            "eicodec.write_retour(PATH, r, PATH + '.ap305', return_date=datetime.date(2024, 6, 2))\n"
                            "os.remove(PATH + '.ap305')\nn = sum(r.counts.values())")),
    # the insurer's answer to an approved file: voorlooprecord and sluitrecord only
    "validate_and_retour_valid": ("valid", ("import eicodec, datetime, os\n"
                                  "r = eicodec.validate(PATH, today=datetime.date(2024, 6, 1))\n"
                                  "eicodec.write_retour(PATH, r, PATH + '.ap305', return_date=datetime.date(2024, 6, 2))\n"
                                  "os.remove(PATH + '.ap305')\nn = sum(r.counts.values())")),
    "validate_many_jobs1": ("valid", ("import eicodec, datetime\n"
                           "rs = list(eicodec.validate_many([PATH] * 2, jobs=1, today=datetime.date(2024, 6, 1)))\n"
                           "n = sum(sum(r.counts.values()) for r in rs)")),
    "validate_many_jobs2": ("valid", ("import eicodec, datetime\n"
                           "rs = list(eicodec.validate_many([PATH] * 2, jobs=2, today=datetime.date(2024, 6, 1)))\n"
                           "n = sum(sum(r.counts.values()) for r in rs)")),
    # GZ321 v1.0 (benchmarks/gz321.py: the example's groups repeated, nested 04/06/16/17):
    # its own floor, validate (approved), and the same file with repeated record ids, which
    # send it through the engine's second pass (issue #26: within 1.5x the AP304 ratio to
    # the floor, and the second pass within 2x of the file without it)
    "lines_gz321": ("gz321", "n = sum(1 for _ in open(PATH, 'rb'))"),
    "validate_gz321": ("gz321", ("r = eicodec.validate(PATH, today=datetime.date(2025, 6, 1))\n"
                       "assert r.status.value == 'approved', r.findings[:3]\nn = sum(r.counts.values())")),
    # ids start again at 1 in every copy of the example: each detail record after the
    # first copy repeats an identificatie (a finding each, the file rejected)
    # (the clock stops before the findings are checked: making 869,540 Finding objects in
    # Python, about 0.85 s, is the caller's loop, not validation; stop 31 and before timed it)
    "validate_gz321_second_pass": ("gz321_ids", (
        "import time as _t\nr = eicodec.validate(PATH, today=datetime.date(2025, 6, 1))\n"
        "_t1, _c1 = _t.perf_counter(), _t.process_time()\n"
        "assert {f.rule for f in r.findings} == {'file.record_id'}, r.findings[:3]\n"
        "n = sum(r.counts.values())\n_extra = {'findings': len(r.findings)}")),
    # the ids start again in the last copy only: the second pass with a few findings
    "validate_gz321_few_repeats": ("gz321_few", (
        "import time as _t\nr = eicodec.validate(PATH, today=datetime.date(2025, 6, 1))\n"
        "_t1, _c1 = _t.perf_counter(), _t.process_time()\n"
        "assert {f.rule for f in r.findings} == {'file.record_id'} and len(r.findings) < 100, r.findings[:3]\n"
        "n = sum(r.counts.values())\n_extra = {'findings': len(r.findings)}")),
    "dumps": ("valid", ("import eicodec\nd = eicodec.read(PATH)\nimport time as _t\n_t0, _c0 = _t.perf_counter(), _t.process_time()\n"
              "b = eicodec.dumps(d)\nn = b.count(b'\\n')")),
}


GZ321_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "gz321_valid.asc"


def measure_import(runs: int = 5) -> dict[str, object]:
    """``import eicodec`` in a fresh interpreter: wall and CPU seconds (fastest of *runs*),
    peak memory; and a bare interpreter's start for comparison."""
    def once(code: str) -> tuple[float, float, float]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        # (VmHWM: getrusage's maxrss would carry this parent's peak across exec)
        out = subprocess.run([sys.executable, "-c", code + "\nprint([int(x.split()[1]) / 1024 for x in "
                              "open('/proc/self/status') if x.startswith('VmHWM')][0])"],
                             capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return wall, cpu, float(out.stdout)
    bare = [once("pass") for _ in range(runs)]
    full = [once("import eicodec") for _ in range(runs)]
    return {"op": "import", "records": 1, "seconds": round(min(r[0] for r in full), 3),
            "cpu_seconds": round(min(r[1] for r in full), 3), "records_per_s": None,
            "peak_rss_mb": round(min(r[2] for r in full), 1),
            "bare_interpreter_seconds": round(min(r[0] for r in bare), 3),
            "bare_interpreter_mb": round(min(r[2] for r in bare), 1)}


def measure(name: str, paths: dict[str, Path]) -> dict[str, object]:
    if name == "import":
        return measure_import()
    which, body = OPS[name]
    path = paths[which]
    code = (
        "import time, resource, json, datetime\n"
        "import eicodec\n"
        "_s = eicodec.get_spec('AP304')\n"  # one-time costs (spec, rules, lists): not timed
        "eicodec.validate(eicodec.dumps(eicodec.read(" + repr(str(paths["tiny"])) + ")), today=datetime.date(2024, 6, 1))\n"
        "eicodec.get_spec('AP305')\n"
        "_d = eicodec.dumps(eicodec.read(" + repr(str(paths["tiny"])) + "))\n"  # and the AP305 builder's
        "eicodec.dumps_retour(_d, eicodec.validate(_d, today=datetime.date(2024, 6, 1)))\n"
        + (f"eicodec.validate({str(GZ321_EXAMPLE)!r}, today=datetime.date(2025, 6, 1))\n"
           if which.startswith("gz321") else "") +
        f"PATH = {str(path)!r}\n"
        # read the file once, untimed, so that the page cache holds it: the figures are
        # of eicodec, not of the disk (the two generated files may not both fit the cache)
        "with open(PATH, 'rb') as _fh:\n"
        "    while _fh.read(1 << 20): pass\n"
        "t0, c0 = time.perf_counter(), time.process_time()\n"
        "_r0 = resource.getrusage(resource.RUSAGE_SELF)\n"
        + body + "\n"
        # the kernel's share of the CPU time (page faults of fresh memory, reads), whole op
        "_r1 = resource.getrusage(resource.RUSAGE_SELF)\n"
        "_extra = {'sys_seconds': round(_r1.ru_stime - _r0.ru_stime, 3), **globals().get('_extra', {})}\n"
        "t = (_t1 if '_t1' in dir() else time.perf_counter()) - (_t0 if '_t0' in dir() else t0)\n"
        "c = (_c1 if '_c1' in dir() else time.process_time()) - (_c0 if '_c0' in dir() else c0)\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps({'n': n, 'seconds': t, 'cpu_seconds': c, 'peak_mb': peak, **globals().get('_extra', {})}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{name} failed:\n{out.stderr}")
    res = json.loads(out.stdout)
    return {"op": name, "records": res["n"], "seconds": round(res["seconds"], 3),
            "cpu_seconds": round(res["cpu_seconds"], 3),
            "records_per_s": int(res["n"] / res["seconds"]) if res["seconds"] else None,
            "records_per_cpu_s": int(res["n"] / res["cpu_seconds"]) if res["cpu_seconds"] else None,
            "peak_rss_mb": round(res["peak_mb"], 1),
            **{k: v for k, v in res.items() if k not in ("n", "seconds", "cpu_seconds", "peak_mb")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--keep", type=Path, default=None, help="keep the generated files in this folder")
    ap.add_argument("--repeat", type=int, default=1, help="run each operation N times, report the fastest")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    ops = args.ops.split(",")
    paths = {"valid": folder / f"bench_{args.records}.asc", "rejected": folder / f"bench_{args.records}_rej.asc",
             "half": folder / f"bench_{args.records}_half.asc", "one": folder / f"bench_{args.records}_one.asc",
             "gz321": folder / f"bench_gz321_{args.records}.asc",
             "gz321_ids": folder / f"bench_gz321_{args.records}_ids.asc",
             "gz321_few": folder / f"bench_gz321_{args.records}_few.asc"}
    for which, path in paths.items():
        if not any(OPS[op][0] == which for op in ops):
            continue
        if args.keep and path.exists():
            continue  # (kept from an earlier run with --keep: not generated again)
        t0 = time.perf_counter()
        if which.startswith("gz321"):
            n = generate_gz321(path, args.records, restart_ids=which == "gz321_ids", few_repeats=which == "gz321_few")
        elif which in ("rejected", "half") and paths["valid"].exists():
            n = reject_lines(paths["valid"], path, every=10 if which == "rejected" else 2)
        elif which == "half":
            n = generate(path, args.records, reject_every=2)
        elif which == "one":
            n = generate(path, args.records, one_insured=True)
        else:
            n = generate(path, args.records, reject_every=10 if which == "rejected" else 0)
        print(json.dumps({"op": f"generate_{which}", "records": n, "seconds": round(time.perf_counter() - t0, 1),
                          "bytes": os.path.getsize(path)}), flush=True)
    paths["tiny"] = folder / "bench_tiny.asc"
    if not paths["tiny"].exists():
        generate(paths["tiny"], 50)
    # --repeat N: every operation N times, round robin (so that a slow spell of a shared
    # machine hits all of them alike); each is reported with its fastest run
    # (wall seconds and peak memory are the fastest run's; CPU seconds are each op's
    # least over its runs, measured on its own: the run with the least wall time can be
    # one where a second thread -- Parquet's writer -- had a core to itself and so spent
    # more CPU, not less)
    best: dict[str, dict[str, object]] = {}
    least_cpu: dict[str, float] = {}
    for _ in range(args.repeat):
        for op in ops:
            res = measure(op, paths)
            least_cpu[op] = min(least_cpu.get(op, float("inf")), res["cpu_seconds"])  # type: ignore[arg-type]
            if op not in best or res["seconds"] < best[op]["seconds"]:  # type: ignore[operator]
                best[op] = res
    for op, res in best.items():
        cpu = least_cpu[op]
        res["cpu_seconds"] = cpu
        res["records_per_cpu_s"] = int(res["records"] / cpu) if cpu else None  # type: ignore[call-overload]
    floor = best["lines"]["records_per_s"] if "lines" in best else None
    for op in ops:
        res = best[op]
        if args.repeat > 1:
            res["runs"] = args.repeat
        if floor and res["records_per_s"]:
            res["ratio_to_lines"] = round(res["records_per_s"] / floor, 3)  # type: ignore[operator]
        print(json.dumps(res), flush=True)
    valid, rejected = best.get("validate"), best.get("validate_10pct_rejected")
    ratios = {}
    half, retour = best.get("validate_half_rejected"), best.get("validate_and_retour")
    if valid and rejected:
        ratios["rejected_vs_valid"] = round(rejected["records_per_s"] / valid["records_per_s"], 3)  # type: ignore[operator]
    if valid and half:
        ratios["half_rejected_vs_valid"] = round(half["records_per_s"] / valid["records_per_s"], 3)  # type: ignore[operator]
    if rejected and retour:
        ratios["retour_vs_validate"] = round(retour["records_per_s"] / rejected["records_per_s"], 3)  # type: ignore[operator]
        if retour["cpu_seconds"]:
            ratios["retour_vs_validate_cpu"] = round(rejected["cpu_seconds"] / retour["cpu_seconds"], 3)  # type: ignore[operator]
    retour_valid = best.get("validate_and_retour_valid")
    if valid and retour_valid:
        ratios["retour_valid_vs_validate"] = round(
            retour_valid["records_per_s"] / valid["records_per_s"], 3)  # type: ignore[operator]
        if retour_valid["cpu_seconds"]:
            ratios["retour_valid_vs_validate_cpu"] = round(
                valid["cpu_seconds"] / retour_valid["cpu_seconds"], 3)  # type: ignore[operator]
    # GZ321: times its own floor (and AP304's, a record of 360 characters against 310),
    # against AP304's validate; the second pass against the same file without it
    gz, gz_floor, ap_floor = best.get("validate_gz321"), best.get("lines_gz321"), best.get("lines")
    for key, res in (("gz321_x_own_floor", gz_floor), ("gz321_x_ap304_floor", ap_floor)):
        if gz and res:
            ratios[key] = round(res["records_per_s"] / gz["records_per_s"], 2)  # type: ignore[operator]
            if res["records_per_cpu_s"] and gz["records_per_cpu_s"]:  # (a tiny file: no CPU time seen)
                ratios[key + "_cpu"] = round(res["records_per_cpu_s"] / gz["records_per_cpu_s"], 2)  # type: ignore[operator]
    if valid and ap_floor:
        ratios["ap304_x_floor"] = round(ap_floor["records_per_s"] / valid["records_per_s"], 2)  # type: ignore[operator]
        if ap_floor["records_per_cpu_s"] and valid["records_per_cpu_s"]:
            ratios["ap304_x_floor_cpu"] = round(
                ap_floor["records_per_cpu_s"] / valid["records_per_cpu_s"], 2)  # type: ignore[operator]
        if "gz321_x_own_floor" in ratios:  # (target: <= 1.5)
            ratios["gz321_vs_ap304_ratio"] = round(ratios["gz321_x_own_floor"] / ratios["ap304_x_floor"], 2)
            if "gz321_x_own_floor_cpu" in ratios and "ap304_x_floor_cpu" in ratios:
                ratios["gz321_vs_ap304_ratio_cpu"] = round(
                    ratios["gz321_x_own_floor_cpu"] / ratios["ap304_x_floor_cpu"], 2)
    for name in ("validate_gz321_second_pass", "validate_gz321_few_repeats"):
        res = best.get(name)
        if gz and res:  # (target for the second pass: <= 2)
            ratios[name.removeprefix("validate_gz321_") + "_vs_gz321"] = round(
                res["seconds"] / gz["seconds"], 2)  # type: ignore[operator]
            if gz["cpu_seconds"]:
                ratios[name.removeprefix("validate_gz321_") + "_vs_gz321_cpu"] = round(
                    res["cpu_seconds"] / gz["cpu_seconds"], 2)  # type: ignore[operator]
    if ratios:
        print(json.dumps(ratios))
    if not args.keep:
        for path in paths.values():
            if path.exists():
                path.unlink()


if __name__ == "__main__":
    main()
