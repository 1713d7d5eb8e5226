"""The `trialmatch` command: JSON on stdout, one clear line on stderr and a non-zero exit for bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import matcher.pipeline
from matcher.cli import main
from matcher.evaluate import evaluate
from tests.support.contract import contract_problems, ranked_problems

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
AS_OF = ["--as-of", "2026-06-30"]


def run(capsysbinary, *argv: str) -> tuple[int, Any, str]:
    """The exit code, the JSON printed on stdout (None if nothing was) and stderr."""
    code = main(list(argv))
    out, err = capsysbinary.readouterr()
    return code, (json.loads(out) if out.strip() else None), err.decode()


def test_match_prints_one_match_result(capsysbinary):
    code, result, _ = run(capsysbinary, "match", str(FIXTURES / "sle_eligible.json"), *AS_OF)
    assert code == 0
    assert result["verdict"] == "eligible" and result["cohort"] == "sle"
    assert contract_problems(result) == []


def test_match_reads_standard_input(capsysbinary, monkeypatch):
    data = (FIXTURES / "hbsag_positive.json").read_bytes()

    class Stdin:
        buffer = __import__("io").BytesIO(data)

    monkeypatch.setattr(sys, "stdin", Stdin)
    code, result, _ = run(capsysbinary, "match", "-", *AS_OF)
    assert code == 0 and result["verdict"] == "ineligible"


def test_rank_orders_folders_and_files(capsysbinary):
    code, ranked, err = run(capsysbinary, "rank", str(FIXTURES), *AS_OF)
    assert code == 0, err
    candidates = ranked["candidates"]
    assert len(candidates) == len(list(FIXTURES.glob("*.json"))) - 1 + 10  # minus expected.json, plus synthea
    assert ranked_problems(candidates) == []
    assert candidates[0]["verdict"] == "eligible"
    assert ranked["skipped"] == []


def test_rank_reads_ndjson(capsysbinary, tmp_path):
    lines = [
        json.dumps(json.loads((FIXTURES / n).read_text())) for n in ("sle_eligible.json", "hiv_antibody_positive.json")
    ]
    (tmp_path / "bundles.ndjson").write_text("\n".join(lines) + "\n")
    code, ranked, _ = run(capsysbinary, "rank", str(tmp_path / "bundles.ndjson"), *AS_OF)
    assert code == 0
    assert [c["verdict"] for c in ranked["candidates"]] == ["eligible", "ineligible"]


def test_rank_reports_what_it_skipped_and_says_so_in_the_exit_status(capsysbinary, tmp_path):
    shutil.copy(FIXTURES / "sle_eligible.json", tmp_path / "good.json")
    (tmp_path / "two.json").write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "entry": [
                    {"resource": {"resourceType": "Patient", "id": "a"}},
                    {"resource": {"resourceType": "Patient", "id": "b"}},
                ],
            }
        )
    )
    code, ranked, err = run(capsysbinary, "rank", str(tmp_path / "good.json"), str(tmp_path / "two.json"), *AS_OF)
    assert code == 2
    assert len(ranked["candidates"]) == 1
    assert "two.json" in err and "2 Patients" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{nope", "not JSON"),
        ('{"resourceType": "Patient"}', "not a Bundle"),
        ('{"resourceType": "Bundle", "entry": []}', "holds no Patient"),
        (
            '{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "birthDate": 5}}]}',
            "Patient/(no id) is not valid FHIR R4: birthDate",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(capsysbinary, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    code, out, err = run(capsysbinary, "match", str(path), *AS_OF)
    assert code == 2 and out is None
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_missing_file_and_bad_date(capsysbinary):
    code, _, err = run(capsysbinary, "match", "/no/such/file.json", *AS_OF)
    assert code == 2 and "cannot read" in err
    with pytest.raises(SystemExit) as caught:
        main(["match", "x.json", "--as-of", "30/06/2026"])
    assert caught.value.code == 2
    assert capsysbinary.readouterr().err.decode().count("\n") == 1


def test_installed_command_runs_without_a_traceback(tmp_path):
    exe = Path(sys.executable).parent / "trialmatch"
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    proc = subprocess.run([str(exe), "match", str(bad)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("trialmatch: ") and "Traceback" not in proc.stderr
    ok = subprocess.run(
        [str(exe), "match", str(FIXTURES / "ra_eligible_si_units.json"), *AS_OF],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(ok.stdout)["verdict"] == "eligible"


def test_rank_table_for_people(capsysbinary):
    code = main(
        [
            "rank",
            str(FIXTURES / "hbsag_positive.json"),
            str(FIXTURES / "sle_eligible.json"),
            "--format",
            "table",
            *AS_OF,
        ]
    )
    lines = capsysbinary.readouterr().out.decode().splitlines()
    assert code == 0
    assert lines[0] == "NCT07161193 candidates as of 2026-06-30 (2 patients)"
    assert "eligible" in lines[3] and "sle" in lines[3]
    assert "fails / unknown / chart" in lines[2]
    assert lines[4].split()[1] == "ineligible" and lines[4].endswith("hepatitis_b / - / -")


def test_nightly_on_the_embedded_default_then_runs_and_diff(capsysbinary, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIALMATCH_WORK_DIR", str(tmp_path))
    monkeypatch.delenv("TRIALMATCH_FHIR_BASE_URL", raising=False)
    monkeypatch.delenv("TRIALMATCH_DATABASE_URL", raising=False)
    code, ranked, err = run(capsysbinary, "nightly", *AS_OF, "--batch", "night-1")
    assert code == 0, err
    _, everyone, _ = run(capsysbinary, "rank", str(FIXTURES), *AS_OF)
    assert [c["patient"] for c in ranked["candidates"]] == [
        c["patient"] for c in everyone["candidates"] if c["cohort"] is not None
    ]
    assert (tmp_path / "trialmatch.db").is_file() and (tmp_path / "report" / "report.txt").is_file()
    code, _, err = run(capsysbinary, "diff")
    assert code == 2 and "fewer than two complete nights" in err
    assert run(capsysbinary, "nightly", *AS_OF, "--batch", "night-2")[0] == 0
    code = main(["diff"])
    out = capsysbinary.readouterr().out.decode()
    first, second = out.splitlines()[:2]
    assert code == 0 and first.startswith("comparing night-1 with night-2 (run ")
    assert second.startswith("0 new candidates, 0 changed, 0 dropped out, 0 deleted or merged")
    assert main(["runs"]) == 0
    assert "night-2" in capsysbinary.readouterr().out.decode()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nightly", "--shard", "2/2"], "not a shard"),
        (["nightly", "--since", "auto"], "--since applies to --bulk runs only"),
        (["nightly", "--bulk"], "--bulk needs a FHIR server"),
    ],
)
def test_nightly_refuses_what_cannot_work(capsysbinary, tmp_path, monkeypatch, argv, message):
    monkeypatch.setenv("TRIALMATCH_WORK_DIR", str(tmp_path))
    monkeypatch.delenv("TRIALMATCH_FHIR_BASE_URL", raising=False)
    code: int | str | None
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert message in capsysbinary.readouterr().err.decode()


@pytest.mark.parametrize("day", ["0005-01-01", "2200-01-01"])
def test_an_as_of_too_far_out_is_refused_in_one_line(capsys, day):
    with pytest.raises(SystemExit) as stopped:
        main(["match", str(FIXTURES / "sle_eligible.json"), "--as-of", day])
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "is outside 1900-01-01 to 2199-12-31" in err


def test_rank_skips_paths_it_cannot_read_and_ranks_the_rest(capsysbinary, tmp_path):
    (tmp_path / "folder.ndjson").mkdir()  # a folder with a file's name
    (tmp_path / "dangling.ndjson").symlink_to(tmp_path / "gone.ndjson")
    shutil.copy(FIXTURES / "sle_eligible.json", tmp_path / "good.json")
    code, ranked, _ = run(capsysbinary, "rank", str(tmp_path / "missing.ndjson"), str(tmp_path), *AS_OF)
    assert code == 2
    assert [c["verdict"] for c in ranked["candidates"]] == ["eligible"]
    assert [s["error"] for s in ranked["skipped"]] == ["no such file or folder"]


def test_a_bug_on_one_patient_costs_that_patient_only(capsysbinary, tmp_path, monkeypatch, caplog):
    real = evaluate

    def failing(record, as_of, mappings):
        if record.patient.ref.endswith(victim):
            raise ValueError("a value from the record: 1961-02-03")
        return real(record, as_of, mappings)

    victim = json.loads((FIXTURES / "hbsag_positive.json").read_text())["entry"][0]["resource"]["id"]
    monkeypatch.setattr(matcher.pipeline, "evaluate", failing)
    for name in ("sle_eligible.json", "hbsag_positive.json"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    code, ranked, err = run(capsysbinary, "rank", str(tmp_path), *AS_OF)
    assert code == 2
    assert len(ranked["candidates"]) == 1
    assert ranked["skipped"][0]["error"] == "internal error (ValueError)"
    assert "1961-02-03" not in caplog.text + err  # the message of an internal error is not logged


def test_a_database_url_of_another_kind_is_refused_in_one_line(capsysbinary, monkeypatch, tmp_path):
    # it used to end in 'internal error (ModuleNotFoundError)'
    monkeypatch.setenv("TRIALMATCH_WORK_DIR", str(tmp_path))
    monkeypatch.setenv("TRIALMATCH_DATABASE_URL", "mysql://user:secret@db.example/runs")
    code = main(["runs"])
    err = capsysbinary.readouterr().err.decode()
    assert code == 2 and "must start with sqlite:/// or postgresql://, not mysql://" in err
    assert "secret" not in err and "Traceback" not in err


def test_purge_says_what_it_deleted(capsysbinary, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIALMATCH_WORK_DIR", str(tmp_path))
    monkeypatch.delenv("TRIALMATCH_DATABASE_URL", raising=False)
    assert main(["purge", "--older-than", "30"]) == 0
    assert "purged 0 runs started before" in capsysbinary.readouterr().err.decode()
    assert main(["purge", "--older-than", "0"]) == 2
