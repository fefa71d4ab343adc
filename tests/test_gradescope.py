"""The Gradescope route: the zip `scratchgrad gradescope` builds, and its run_autograder on a fake /autograder.

Each run unzips the bundle into `<tmp>/source`, puts the learner's files in `<tmp>/submission` and
runs `run_autograder` with SCRATCHGRAD_GRADESCOPE_ROOT=<tmp>, as Gradescope would (setup.sh itself
is not run: this environment already has its dependencies). Every results.json is checked against
Gradescope's schema by `schema_problems`, written here independently of the code that produces it.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from autograder.checks import CheckResult
from autograder.gradescope import ROOT_ENV, Collected, build, collect, to_results
from autograder import zygote
from autograder.launch import WORKER_USER_ENV, ZYGOTE_ENV, _discard, spawn, start_zygote, stop_zygotes
from autograder.program import Program
from autograder.report import AssignmentResult, Report
from autograder.worker import Worker
from tests.banks.a03_attention import MUTANTS
from tests.banks.edits import apply
from tests.conftest import ASSIGNMENTS, ROOT, SOLUTIONS

# one xdist worker runs this module: its module-scoped fixtures are expensive, built once
pytestmark = pytest.mark.xdist_group("gradescope")

IDS = ["a03_attention", "a04_gpt_blocks"]
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}


# -- an independent check of Gradescope's results.json schema --------------------------------
def _number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def schema_problems(doc: object) -> list[str]:
    """What makes `doc` an invalid Gradescope results.json (empty when it is valid)."""
    if not isinstance(doc, dict):
        return ["the top level is not an object"]
    bad = []
    if not _number(doc.get("score")):
        bad.append(f"score {doc.get('score')!r} is not a number")
    if not isinstance(doc.get("execution_time"), int) or doc["execution_time"] < 0:
        bad.append(f"execution_time {doc.get('execution_time')!r} is not a whole number of seconds")
    if not isinstance(doc.get("output"), str) or not doc["output"].strip():
        bad.append("output is missing or empty")
    for key, allowed in (("output_format", FORMATS), ("test_output_format", FORMATS),
                         ("test_name_format", FORMATS), ("stdout_visibility", VISIBILITY)):
        if key in doc and doc[key] not in allowed:
            bad.append(f"{key} {doc[key]!r} is not one of {sorted(allowed)}")
    if doc.get("stdout_visibility") != "hidden":
        bad.append("stdout_visibility must be 'hidden' (the log shows hidden results)")
    if "leaderboard" in doc:
        bad.append("a leaderboard is present")
    tests = doc.get("tests")
    if not isinstance(tests, list) or not tests:
        return bad + ["tests is missing or empty"]
    for i, t in enumerate(tests):
        if not isinstance(t, dict):
            bad.append(f"tests[{i}] is not an object")
            continue
        for key in ("name", "output"):
            if not isinstance(t.get(key), str):
                bad.append(f"tests[{i}].{key} is not a string")
        if not (_number(t.get("score")) and _number(t.get("max_score")) and 0 <= t["score"] <= t["max_score"]):
            bad.append(f"tests[{i}] score {t.get('score')!r} / max_score {t.get('max_score')!r} out of range")
        if t.get("status") not in ("passed", "failed"):
            bad.append(f"tests[{i}].status {t.get('status')!r} is not passed/failed")
        if t.get("visibility") not in VISIBILITY:
            bad.append(f"tests[{i}].visibility {t.get('visibility')!r} is not one of {sorted(VISIBILITY)}")
    names = [t.get("name") for t in tests if isinstance(t, dict)]
    if len(set(names)) != len(names):
        bad.append("test names repeat")
    if _number(doc.get("score")) and not bad:
        total = sum(t["score"] for t in tests)
        if abs(doc["score"] - total) > 1e-6:
            bad.append(f"score {doc['score']} is not the tests' total {total}")
    return bad


def test_schema_check_rejects_what_gradescope_would() -> None:
    good = {"score": 1.0, "execution_time": 3, "output": "x", "stdout_visibility": "hidden",
            "tests": [{"name": "a", "score": 1.0, "max_score": 1.0, "status": "passed", "output": "",
                       "visibility": "visible"}]}
    assert schema_problems(good) == []
    for change, words in (({"score": 2.0}, "not the tests' total"), ({"tests": []}, "tests is missing"),
                          ({"execution_time": 1.5}, "execution_time"), ({"stdout_visibility": "visible"}, "hidden"),
                          ({"output_format": "markdown"}, "output_format")):
        assert any(words in p for p in schema_problems({**good, **change})), change
    for change, words in (({"status": "ok"}, "status"), ({"visibility": "public"}, "visibility"),
                          ({"score": 2.0}, "out of range"), ({"name": None}, "name")):
        doc = {**good, "tests": [{**good["tests"][0], **change}]}
        assert any(words in p for p in schema_problems(doc)), change


# -- building and running the bundle ---------------------------------------------------------
def scratchgrad(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600, check=False)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    run = scratchgrad("gradescope", str(out), "--only", "a03", "a04")
    assert run.returncode == 0, run.stderr
    assert f"wrote {out}" in run.stdout and "a03_attention, a04_gpt_blocks" in run.stdout
    return out


def unzip(archive: Path, dest: Path) -> None:
    """Extract keeping the permission bits, as Gradescope's image build does."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, dest))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                path.chmod(mode)


def fake_root(tmp_path: Path, bundle: Path) -> Path:
    root = tmp_path / "autograder"
    unzip(bundle, root / "source")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")  # where Gradescope puts it
    (root / "submission").mkdir()
    return root


def run_autograder(root: Path, **env: str) -> tuple[dict, str]:
    clean = {k: v for k, v in os.environ.items() if k not in (ROOT_ENV, WORKER_USER_ENV)}
    env = {**clean, ROOT_ENV: str(root), "SCRATCHGRAD_PYTHON": sys.executable, **env}
    run = subprocess.run([str(root / "run_autograder")], capture_output=True, text=True, timeout=600,
                         cwd=root.parent, env=env, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    text = (root / "results" / "results.json").read_text(encoding="utf-8")
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"results.json holds {c}"))
    assert schema_problems(doc) == [], (schema_problems(doc), run.stdout)
    return doc, run.stdout + run.stderr


def by_name(doc: dict) -> dict[str, dict]:
    return {t["name"]: t for t in doc["tests"]}


def test_bundle_holds_scripts_and_the_grader_source(bundle: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(bundle) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        setup, runner = zf.read("setup.sh").decode(), zf.read("run_autograder").decode()
        constraints = zf.read("scratchgrad/constraints.txt").decode()
    for script in ("setup.sh", "run_autograder"):  # at the root of the zip, executable
        assert stat.S_IMODE(infos[script].external_attr >> 16) == 0o755, script
    names = set(infos)
    for needed in ("pyproject.toml", "autograder/grading.py", "autograder/hidden/a03_attention.py",
                   "autograder/hidden/a04_gpt_blocks.py", "reference/a03_attention.py",
                   "autograder/suites/snapshots/a03_attention.safetensors"):
        assert f"scratchgrad/{needed}" in names, needed
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith(("solutions", "tests"))]
    # setup.sh installs the bundled source with pip, torch pinned as in constraints.txt, and the worker account
    assert "SRC=/autograder/source/scratchgrad" in setup
    assert 'pip install -c "$SRC/constraints.txt" -e "$SRC"' in setup
    assert "torch==" in constraints and constraints == (ROOT / "constraints.txt").read_text()
    assert "useradd" in setup and "sgworker" in setup
    assert "--only a03_attention a04_gpt_blocks" in runner and "chmod 700" in runner
    for script in ("setup.sh", "run_autograder"):
        (tmp_path / script).write_text(setup if script == "setup.sh" else runner)
        check = subprocess.run(["bash", "-n", str(tmp_path / script)], capture_output=True, text=True, check=False)
        assert check.returncode == 0, (script, check.stderr)
    again = tmp_path / "again.zip"
    build(again, IDS)
    assert again.read_bytes() == bundle.read_bytes()  # rebuilt byte for byte: one upload per grader version


def test_bad_output_name_is_a_usage_error(tmp_path: Path) -> None:
    run = scratchgrad("gradescope", str(tmp_path / "autograder.tar"))
    assert run.returncode == 2 and "'" + str(tmp_path / "autograder.tar") + "' must be a .zip" in run.stderr
    run = scratchgrad("gradescope", str(tmp_path / "a.zip"), "--only", "a99")
    assert run.returncode == 2 and "unknown assignment 'a99'" in run.stderr


def test_solutions_in_a_folder_score_full_marks(bundle: Path, tmp_path: Path) -> None:
    root = fake_root(tmp_path, bundle)
    (root / "submission" / "hw3").mkdir()
    shutil.copy(SOLUTIONS / "a03_attention.py", root / "submission" / "hw3" / "a03_attention.py")
    shutil.copy(SOLUTIONS / "a04_gpt_blocks.py", root / "submission" / "a04_gpt_blocks (1).py")  # a browser's copy
    doc, log = run_autograder(root)
    tests = doc["tests"]
    assert all(t["status"] == "passed" and t["score"] == t["max_score"] for t in tests), log
    assert doc["score"] == sum(t["max_score"] for t in tests) > 0
    assert {t["name"].split(":")[0] for t in tests} == set(IDS)
    public = [t for t in tests if t["visibility"] == "visible"]
    hidden = [t for t in tests if t["visibility"] == "after_published"]
    assert public and hidden and len(public) + len(hidden) == len(tests)
    assert any(t["name"] == "a03_attention: mha_matches_reference" for t in hidden), [t["name"] for t in hidden]
    # the summary everyone sees at once counts public points only (the total would reveal hidden results)
    pub = sum(t["score"] for t in public)
    assert f"public checks **{pub:g} / {pub:g}**" in doc["output"] and doc["output_format"] == "md"
    assert "`hw3/a03_attention.py`" in doc["output"] and "`a04_gpt_blocks (1).py`" in doc["output"]
    assert doc["extra_data"]["files"] == {"a03_attention": "hw3/a03_attention.py",
                                          "a04_gpt_blocks": "a04_gpt_blocks (1).py"}
    if os.geteuid() == 0:  # the grader's source, with the reference and hidden checks, is closed to others
        assert stat.S_IMODE((root / "source").stat().st_mode) == 0o700


def test_zip_upload_scores_as_scratchgrad_grade_does(bundle: Path, tmp_path: Path) -> None:
    """Parity across routes: the same files get the same score, check by check, as `scratchgrad grade`."""
    (mutant,) = [m for m in MUTANTS if m.name == "mha_scale_by_d_out"]
    source = apply((SOLUTIONS / "a03_attention.py").read_text(encoding="utf-8"), mutant)
    upload = tmp_path / "upload.zip"
    with zipfile.ZipFile(upload, "w") as zf:
        zf.writestr("my_homework/a03_attention.py", source)
        zf.writestr("__MACOSX/my_homework/._a03_attention.py", "resource fork")
    root = fake_root(tmp_path, bundle)
    shutil.copy(upload, root / "submission" / "upload.zip")
    doc, _log = run_autograder(root)
    graded = scratchgrad("grade", str(upload), "--only", *IDS, "--json", str(tmp_path / "report.json"))
    assert graded.returncode == 0, graded.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert 0 < doc["score"] == report["score"] < report["max_score"]
    assert {f"{a['id']}: {c['name']}": c["score"] for a in report["assignments"] for c in a["checks"]} == \
        {t["name"]: t["score"] for t in doc["tests"]}
    lost = [t for t in doc["tests"] if t["name"].startswith("a03") and t["status"] == "failed"]
    assert {t["visibility"] for t in lost} == {"visible", "after_published"}  # the mistake shows on both kinds
    assert any("divided by d" in t["output"] for t in lost), [t["output"] for t in lost]
    assert "`upload.zip/my_homework/a03_attention.py`" in doc["output"]
    assert "a04_gpt_blocks.py (or a04_gpt_blocks.ipynb) is not in the submission" in doc["output"]


def test_stub_and_syntax_error_score_zero_with_reasons(bundle: Path, tmp_path: Path) -> None:
    root = fake_root(tmp_path, bundle)
    shutil.copy(ASSIGNMENTS / "a03_attention.py", root / "submission" / "a03_attention.py")
    (root / "submission" / "a04_gpt_blocks.py").write_text("def oops(:\n    pass\n")
    doc, _log = run_autograder(root)
    assert doc["score"] == 0 and all(t["status"] == "failed" for t in doc["tests"])
    a03 = [t for t in doc["tests"] if t["name"].startswith("a03")]
    assert any("not implemented yet: a03: softmax" in t["output"] for t in a03)
    assert "a04_gpt_blocks.py does not parse: invalid syntax (line 1)" in doc["output"]
    assert all("does not parse" in t["output"] for t in doc["tests"] if t["name"].startswith("a04"))


def test_no_assignment_file_scores_zero_with_a_reason(bundle: Path, tmp_path: Path) -> None:
    root = fake_root(tmp_path, bundle)
    (root / "submission" / "notes.txt").write_text("I ran out of time")
    doc, _log = run_autograder(root)
    assert doc["score"] == 0 and len(doc["tests"]) > len(IDS)  # every check listed, each with its reason
    assert "no assignment file found" in doc["output"] and "`notes.txt`" in doc["output"]
    assert all("is not in the submission" in t["output"] for t in doc["tests"])


def test_grader_fault_still_writes_results_with_the_reason(bundle: Path, tmp_path: Path) -> None:
    root = fake_root(tmp_path, bundle)
    shutil.copy(SOLUTIONS / "a03_attention.py", root / "submission")
    (root / "source" / "scratchgrad" / "autograder" / "hidden" / "a04_gpt_blocks.py").unlink()  # a broken install
    doc, log = run_autograder(root)
    assert doc["score"] == 0 and [t["name"] for t in doc["tests"]] == [f"{a}: not graded" for a in IDS]
    assert "could not grade this submission" in doc["output"] and "autograder.hidden.a04_gpt_blocks" in doc["output"]
    assert "Traceback" in log  # the instructor's log (hidden from students) has the details


def test_python_that_cannot_start_still_yields_results(bundle: Path, tmp_path: Path) -> None:
    root = fake_root(tmp_path, bundle)
    doc, _ = run_autograder(root, SCRATCHGRAD_PYTHON="/bin/false")
    assert doc["score"] == 0 and "failed to start (exit status 1)" in doc["output"]


def test_results_show_public_points_now_and_name_grader_faults() -> None:
    checks = [CheckResult("rows_sum_to_one", "passed", 2.0, 2.0, "public", "property", "rows sum to 1"),
              CheckResult("is_causal", "failed", 0.0, 3.0, "public", "property", "no peeking", message="peeked",
                          hint="matches attention without the causal mask"),
              CheckResult("matches_reference", "passed", 0.5, 0.5, "hidden", "differential", "same as reference"),
              CheckResult("grads_match", "error", 0.0, 4.0, "hidden", "differential", "same gradients",
                          message="internal grader error (not your fault): KeyError: 'x'", grader_fault=True)]
    report = Report("submission", [AssignmentResult("a03_attention", checks)], grader={"seed": 0})
    doc = to_results(report, Collected({"a03_attention": "hw/a03_attention.py"}), elapsed_s=2.4, worker_user=None)
    assert schema_problems(doc) == [] and doc["score"] == 2.5 and doc["execution_time"] == 2
    assert [t["visibility"] for t in doc["tests"]] == ["visible", "visible", "after_published", "after_published"]
    assert [t["status"] for t in doc["tests"]] == ["passed", "failed", "passed", "failed"]
    assert "peeked" in doc["tests"][1]["output"] and "hint: matches attention without" in doc["tests"][1]["output"]
    assert "public checks **2 / 5**" in doc["output"] and "2.5" not in doc["output"]  # no total before publishing
    assert "grader itself failed on 1 check(s)** (a03_attention: grads_match)" in doc["output"]
    assert doc["extra_data"]["grader_faults"] == 1


def test_collect_finds_files_where_students_put_them(tmp_path: Path) -> None:
    sub, dest = tmp_path / "submission", tmp_path / "work" / "staged"
    (sub / "deep" / "deeper").mkdir(parents=True)
    (sub / "deep" / "deeper" / "a03_attention.py").write_text("# deeper")
    (sub / "A03_Attention (2).py").write_text("# renamed copy at the top")
    (sub / "deep" / "a03_attention.py").write_text("# exact name, shallowest")
    (sub / ".hidden").mkdir()
    (sub / ".hidden" / "a04_gpt_blocks.py").write_text("# editor backup")
    secret = tmp_path / "instructor_only.py"
    secret.write_text("SECRET = 1")
    (sub / "a04_gpt_blocks.py").symlink_to(secret)  # copying through it as root would leak the target
    with zipfile.ZipFile(sub / "upload.zip", "w") as zf:
        zf.writestr("hw/a01_tokenizer.ipynb", "{}")
        zf.writestr("__MACOSX/hw/._a02_data.py", "fork")
    got = collect(sub, ["a01_tokenizer", "a02_data", "a03_attention", "a04_gpt_blocks"], dest)
    assert got.files == {"a01_tokenizer": "upload.zip/hw/a01_tokenizer.ipynb", "a02_data": None,
                         "a03_attention": "deep/a03_attention.py", "a04_gpt_blocks": None}
    assert sorted(p.name for p in dest.iterdir()) == ["a01_tokenizer.ipynb", "a03_attention.py"]
    assert (dest / "a03_attention.py").read_text() == "# exact name, shallowest"
    notes = "\n".join(got.notes)
    assert "`a04_gpt_blocks.py` is a symbolic link and was ignored" in notes
    assert ("graded `deep/a03_attention.py` as a03_attention.py; also found `deep/deeper/a03_attention.py`, "
            "`A03_Attention (2).py`") in notes  # exact names first, then the shallowest
    assert sorted(p.name for p in dest.parent.iterdir()) == ["staged"]  # the unpacked zip is gone


# -- the trust boundary: as root, learner code runs as an unprivileged account ---------------
@pytest.fixture(scope="module")
def worker_user() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("dropping to another user needs a root grader (Gradescope runs as root); these tests run as "
                    f"uid {os.geteuid()}")
    name = f"sgtest{os.getpid()}"
    if shutil.which("useradd") is None:
        yield "nobody"
        return
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", "--force", name], check=False)


def _blocked_by(user: str) -> Path | None:
    """The first folder above this Python that `user` may not traverse (so cannot execute it), if any."""
    account = pwd.getpwnam(user)
    for exe in (Path(sys.executable), Path(sys.executable).resolve()):
        for folder in exe.parents:
            st = folder.stat()
            if st.st_uid != account.pw_uid and not st.st_mode & stat.S_IXOTH:
                return folder
    return None


def _unusable_python(user: str) -> str | None:
    """Why `user` cannot run the worker (this Python, importing torch from this sys.path), or None."""
    account = pwd.getpwnam(user)
    folder = _blocked_by(user)
    if folder is not None:
        return (f"the Python interpreter {sys.executable} is not usable by user {user}: {folder} is mode "
                f"{stat.S_IMODE(folder.stat().st_mode):#o} (not traversable by other users); running this test needs "
                f"a copy of the interpreter with its standard library and packages (torch) outside {folder}, e.g. a "
                f"venv built from a Python under /opt; test_the_worker_account_tests_run_where_this_python_is_private "
                f"runs it in a mount namespace where {folder} is traversable")
    boot = f"import sys; sys.path[:] = {[p for p in sys.path if p]!r}; import torch"  # as the worker boots
    probe = subprocess.run([sys.executable, "-I", "-S", "-c", boot], capture_output=True, text=True,
                           user=account.pw_uid, group=account.pw_gid, extra_groups=[], cwd="/", check=False)
    if probe.returncode != 0:
        return f"user {user} cannot import torch with {sys.executable}: {probe.stderr.strip()[-300:]}"
    return None


PROBE = '''
import os

def _read(path):
    try:
        open(path).read(1)
        return "read"
    except OSError as exc:
        return type(exc).__name__

def whoami(x):
    return {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "secret": _read(SECRET)}
'''


def test_spawn_drops_to_the_worker_user(worker_user: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    account = pwd.getpwnam(worker_user)
    secret = tmp_path / "secret.txt"
    secret.write_text("instructor only")
    secret.chmod(0o600)
    sub = tmp_path / "sub"
    sub.mkdir(mode=0o700)
    (sub / "a99_probe.py").write_text(PROBE.replace("SECRET", repr(str(secret))))
    (sub / "a99_probe.py").chmod(0o600)  # the worker reads its own copy of the submission
    reason = _unusable_python(worker_user)
    if _blocked_by(worker_user) is not None:
        # root may execute anything: refusing to exec the interpreter proves the child had already switched users
        sandboxes = tmp_path / "sandboxes"  # a folder of its own: other tests start workers meanwhile
        sandboxes.mkdir()
        with monkeypatch.context() as m, pytest.raises(PermissionError):
            m.setattr(tempfile, "tempdir", str(sandboxes))
            _discard(spawn(sub, user=worker_user))  # stops the worker if the switch to the account did not happen
        assert not list(sandboxes.glob("scratchgrad-worker-*"))  # its sandbox is removed
    if reason is not None:
        pytest.skip(reason)
    p = Program("a99_probe")
    p.returns(out=p.call("whoami", 0))
    with Worker(sub, user=worker_user) as w:
        resp = w.run(p.to_json(), p.tensors)
    assert resp.status == "ok", resp
    assert resp.returns["out"] == {"uid": account.pw_uid, "gid": account.pw_gid, "groups": [],
                                   "secret": "PermissionError"}


def test_a_zygote_for_the_worker_user_runs_as_that_user(worker_user: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """grade-all as root: the zygote, and so every worker forked from it, runs as the worker account."""
    if zygote.supported():
        pytest.skip(zygote.supported())
    account = pwd.getpwnam(worker_user)
    monkeypatch.delenv(ZYGOTE_ENV, raising=False)
    if _blocked_by(worker_user) is not None:  # root may execute anything: the switch happened before exec
        sandboxes = tmp_path / "sandboxes"  # a folder of its own: other tests start workers meanwhile
        sandboxes.mkdir()
        with monkeypatch.context() as m:
            m.setattr(tempfile, "tempdir", str(sandboxes))
            why = start_zygote(user=worker_user)
        assert why is not None and "could not be started" in why and "Permission" in why, why
        assert not list(sandboxes.glob("scratchgrad-zygote-*"))
        pytest.skip(_unusable_python(worker_user))
    why = start_zygote(user=worker_user)
    try:
        assert why is None, why
        sub = tmp_path / "sub"
        sub.mkdir()
        (sub / "a99_probe.py").write_text(PROBE.replace("SECRET", repr(str(tmp_path / "nothing"))))
        p = Program("a99_probe")
        p.returns(out=p.call("whoami", 0))
        with Worker(sub, user=worker_user) as w:
            resp = w.run(p.to_json(), p.tensors)
            assert type(w.proc).__name__ == "ForkedProc"
        assert resp.status == "ok" and resp.returns["out"]["uid"] == account.pw_uid, resp
    finally:
        stop_zygotes()


def test_run_autograder_keeps_instructor_files_from_learner_code(worker_user: str, bundle: Path) -> None:
    reason = _unusable_python(worker_user)
    if reason is not None:
        pytest.skip(reason)
    account = pwd.getpwnam(worker_user)
    top = Path(tempfile.mkdtemp(prefix="scratchgrad-gs-test-"))  # open to others, unlike pytest's tmp_path
    try:
        top.chmod(0o755)
        root = fake_root(top, bundle)
        reference = root / "source" / "scratchgrad" / "reference" / "a03_attention.py"
        as_worker = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        readable = subprocess.run(["cat", str(reference)], capture_output=True, check=False, **as_worker)
        assert readable.returncode == 0  # before run_autograder closes the source tree
        # code the integrity scan lets through (it keeps `open` and `os` out): linecache reads any file it
        # may, and answers [] where it may not; its own module shows that reading works at all
        spy = ("import linecache\n\ndef _state(path):\n    return 'read' if linecache.getlines(path) else 'unreadable'\n\n"
               f"raise RuntimeError('own=%s reference=%s' % (_state(__file__), _state({str(reference)!r})))\n")
        (root / "submission" / "a03_attention.py").write_text(spy)
        doc, log = run_autograder(root, **{WORKER_USER_ENV: worker_user})
    finally:
        shutil.rmtree(top, ignore_errors=True)
    a03 = [t for t in doc["tests"] if t["name"].startswith("a03") and "no_banned_apis" not in t["name"]]
    assert a03 and all("own=read reference=unreadable" in t["output"] for t in a03), a03[0]["output"]
    assert doc["extra_data"]["worker_user"] == worker_user and f"learner code runs as {worker_user}" in log


ACCOUNT_TESTS = ("test_spawn_drops_to_the_worker_user", "test_a_zygote_for_the_worker_user_runs_as_that_user",
                 "test_run_autograder_keeps_instructor_files_from_learner_code")
INNER_ENV = "SCRATCHGRAD_TEST_TRAVERSABLE"  # set inside the mount namespace below: run the account tests there
# in a private mount namespace: a copy of FOLDER (a tmpfs others may traverse) holding bind mounts of its
# items is mounted over FOLDER, so the paths stay the same and only the traversal right changes there
TRAVERSABLE = """
import os, subprocess, sys
folder, stage = sys.argv[1], sys.argv[2]
def mount(*args):
    subprocess.run(["mount", *args], check=True)
mount("-t", "tmpfs", "-o", "mode=0711", "sg-traversable", stage)
for entry in os.scandir(folder):
    target = os.path.join(stage, entry.name)
    if entry.is_symlink():
        os.symlink(os.readlink(entry.path), target)
        continue
    if entry.is_dir():
        os.mkdir(target)
    else:
        open(target, "w").close()
    mount("--rbind", entry.path, target)
mount("--rbind", stage, folder)
os.execv(sys.executable, [sys.executable, *sys.argv[3:]])
"""


def test_the_worker_account_tests_run_where_this_python_is_private(worker_user: str, tmp_path: Path) -> None:
    """Where the interpreter sits in a folder other accounts may not enter (a pyenv under /root, as here),
    the account tests above skip; this runs them again in a mount namespace where only that folder's
    traversal right differs, so the worker account's route is tested on this machine too."""
    folder = _blocked_by(worker_user)
    if os.environ.get(INNER_ENV) or folder is None:
        pytest.skip("the worker account can run this Python: the account tests run directly")
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("util-linux `unshare` and `mount` are not installed")
    stage = tmp_path / "stage"
    stage.mkdir()
    run = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, "-c", TRAVERSABLE,
                          str(folder), str(stage), "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-q", "-rs",
                          "tests/test_gradescope.py", "-k", " or ".join(ACCOUNT_TESTS)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
                         env={**os.environ, INNER_ENV: "1", "PYTHONDONTWRITEBYTECODE": "1"})
    assert run.returncode == 0 and f"{len(ACCOUNT_TESTS)} passed" in run.stdout, run.stdout[-4000:] + run.stderr[-2000:]
    assert "skipped" not in run.stdout, run.stdout[-2000:]


def test_a_missing_worker_user_stops_grading(bundle: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"only a root grader switches users; these tests run as uid {os.geteuid()}")
    root = fake_root(tmp_path, bundle)
    shutil.copy(SOLUTIONS / "a03_attention.py", root / "submission")
    doc, _ = run_autograder(root, **{WORKER_USER_ENV: "sg-no-such-user"})
    assert doc["score"] == 0 and "the worker user 'sg-no-such-user'" in doc["output"]
    assert "does not exist" in doc["output"]


def test_readme_and_dry_run_on_a_folder_of_student_files(bundle: Path, tmp_path: Path) -> None:
    """The zip says how to upload it, and `dry_run.py` runs run_autograder locally and prints the summary."""
    unzip(bundle, tmp_path / "ag")
    readme = (tmp_path / "ag" / "README.md").read_text(encoding="utf-8")
    for needed in ("Zip file upload", "Ubuntu 22.04", "timeout", "dry_run.py", "Test Autograder"):
        assert needed in readme, needed
    student = tmp_path / "alice"
    student.mkdir()
    shutil.copy(SOLUTIONS / "a03_attention.py", student / "a03_attention.py")
    clean = {k: v for k, v in os.environ.items() if k not in (ROOT_ENV, WORKER_USER_ENV)}
    run = subprocess.run([sys.executable, str(tmp_path / "ag" / "dry_run.py"), str(student), "--keep"],
                         capture_output=True, text=True, timeout=600, env={**clean, "SCRATCHGRAD_PYTHON": sys.executable})
    assert run.returncode == 0, run.stderr
    assert "public checks **25 / 56**" in run.stdout  # results.json's summary as students see it (a04 missing)
    assert "passed      2/2     a03_attention: softmax_rows_sum_to_one" in run.stdout
    assert "(after_published)" in run.stdout and "a04_gpt_blocks" in run.stdout  # missing: scored 0, listed
    kept = run.stdout.strip().splitlines()[-1].split()[1]
    assert json.loads((Path(kept) / "results" / "results.json").read_text())["tests"]
    shutil.rmtree(kept)
    assert sorted(p.name for p in student.iterdir()) == ["a03_attention.py"]  # the student's folder is untouched
