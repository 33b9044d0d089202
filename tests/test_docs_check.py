"""docs/results.md cannot drift from the records: every number and verdict it quotes carries an anchor, and
`python -m methods check-docs` recomputes each from the committed runs (methods/report/docs_check.py)."""
import subprocess
import sys

import pytest

from methods import PROJECT_ROOT
from methods.report.comparison import build_report
from methods.report.docs_check import check_document, matches


@pytest.fixture(scope="module")
def report():
    return build_report("paper", PROJECT_ROOT)


def test_every_quoted_number_of_the_results_doc_matches_the_records():
    result = subprocess.run([sys.executable, "-m", "methods", "check-docs", "docs/results.md"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    count = int(result.stdout.strip().splitlines()[-1].split()[0])
    assert count >= 60   # the table means, the seeds and the verdicts of both measured sections


def test_a_wrong_number_a_wrong_verdict_and_an_unknown_key_are_each_named_with_their_line(tmp_path, report):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "Baseline: mean 99.06 ± 0.11<!-- check: cell | table2 | MNIST | Baseline | mean±std -->.\n"
        "Wrong: 99.16<!-- check: cell | table2 | MNIST | Baseline | mean -->\n"
        "Verdict: `supported`<!-- check: comparison | t2-focusnet-beats-baseline | MNIST | verdict -->\n"
        "Nowhere: 1.0<!-- check: cell | table2 | MNIST | No such row | mean -->\n"
        "Dangling: <!-- check: cell | table2 | MNIST | Baseline | mean -->\n")
    count, mismatches = check_document(doc, report)
    assert [m.line for m in mismatches] == [5] and "an anchor must follow the value" in mismatches[0].actual
    doc.write_text("\n".join(doc.read_text().splitlines()[:4]) + "\n")
    count, mismatches = check_document(doc, report)
    assert count == 4 and [m.line for m in mismatches] == [2, 3, 4]
    assert mismatches[0].actual == "99.06" and mismatches[1].actual == "'not significant'"
    assert "no cell 'No such row' / 'MNIST' in table2" in mismatches[2].actual


def test_a_number_matches_to_the_digits_it_is_quoted_with():
    assert matches("99.06", 99.0633) and matches("99.06", 99.055) and not matches("99.06", 99.07)
    assert matches("+0.063", 0.0633) and matches("-0.027", -0.0267) and not matches("0.063", -0.0633)
    assert matches("2.35e-06", 2.3512e-06) and not matches("2.35e-06", 2.36e-06)
    assert matches("99.06 ± 0.11", [99.06, 0.1127]) and not matches("99.06", [99.06, 0.11])
    assert matches("[-0.13, +0.26]", [-0.1296, 0.2563])
    assert matches("`open`", "open") and not matches("`open`", "open (one run)") and not matches("1.0", None)


def test_the_architecture_picture_is_the_import_graph_and_a_drift_is_caught(tmp_path):
    """docs/architecture.md's picture is what grimp reads from the code now; an arrow edited in (or a part
    dropped) is one line naming the first difference and the command that redraws it."""
    from methods import PROJECT_ROOT
    from methods.report import architecture
    doc = PROJECT_ROOT / "docs" / "architecture.md"
    assert architecture.check(doc) == []
    drawn = architecture.drawn_in(doc)
    assert "plan --> engine" not in drawn and "cli --> jobs" in drawn
    edited = tmp_path / "architecture.md"
    edited.write_text(doc.read_text().replace("    cli --> jobs\n", "    cli --> jobs\n    plan --> engine\n"))
    [problem] = architecture.check(edited)
    assert "plan --> engine" in problem and "python -m methods draw-architecture" in problem
    architecture.write(edited)
    assert architecture.check(edited) == []


def test_the_layer_order_refuses_a_cycle():
    from methods.report.architecture import layered
    assert layered({"a": {"b"}, "b": {"c"}, "c": set()}) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="import cycle: a -> b -> a"):
        layered({"a": {"b"}, "b": {"a"}})
