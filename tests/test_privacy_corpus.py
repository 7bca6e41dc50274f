"""Issue 25, done-when: seeded mutated files through every shareable output (the suite's
share; scripts/privacy_corpus.py runs 20,000). See tests/privacy_harness.py."""

from __future__ import annotations

import collections
from pathlib import Path

from eicodec import UnreadableInputError
from eicodec.anonymise import LeakError, anonymise
from tests.privacy_harness import KEY, bases, check, corpus, personal_values, verdict


def test_the_harness_knows_the_personal_values_and_would_see_them() -> None:
    full = bases()[-1]
    values = personal_values(full)
    for v in ("123456782", "Vries", "19560314", "1956-03-14", "14-03-1956", "3511AB", "3511 AB",
              "Oudegracht", "Utrecht", "NL91ABNA0417164300", "0612345678", "j.devries@example.nl"):
        assert v in values, v
    # an unmasked view shows them: the scan finds what it looks for
    seen = collections.Counter(v for _, base, data, _ in corpus(7, 60)
                               for v in personal_values(base) if v in data.decode("latin-1"))
    assert len(seen) >= 10


def test_every_output_of_mutated_files_holds_no_personal_value(tmp_path: Path) -> None:
    """Anonymised copy, masked CSV (both layouts, every record type), JSON, JSON Lines,
    Arrow, Parquet, show, HTML report, messages: no personal value of the input, no
    foreign exception, the anonymised copy validating as its original."""
    problems = collections.Counter()
    cache: dict[int, dict[str, str]] = {}
    for k, base, data, done in corpus(2025, 160):
        for kind, where in check(data, cache.setdefault(id(base), personal_values(base)), tmp_path,
                                 parquet=k % 20 == 0):
            problems[kind, where, ", ".join(done)] += 1
    assert not problems, problems.most_common(10)


def test_anonymised_copies_of_mutated_files_keep_their_verdict_and_leak_nothing() -> None:
    bad = []
    cache: dict[int, dict[str, str]] = {}
    for k, base, data, done in corpus(4711, 700):
        values = cache.setdefault(id(base), personal_values(base))
        try:
            before = verdict(data)
        except UnreadableInputError:  # (the copy is refused too: checked by check())
            continue
        try:
            copy = b"".join(anonymise(data, KEY))
        except LeakError as exc:
            bad.append((k, done, f"refused: rubric {exc.rubric}"))
            continue
        text = copy.decode("latin-1")
        leaked = sorted({rubric for v, rubric in values.items() if v in text})
        if leaked or verdict(copy) != before:
            bad.append((k, done, leaked))
    assert bad == []
