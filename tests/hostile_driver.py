"""Runs the hostile bank against the real grader and prints what happened as JSON (used by test_sandbox.py).

    python tests/hostile_driver.py CONFIG.json

CONFIG names `project` (a disposable copy of the grader: autograder/, reference/, solutions/,
assignments/; the attacks aim at it), `work` (an empty folder for the students' folders), `bank`
(tests/banks/hostile.py) and `mark` (a unique name for files an attack manages to write). The test runs this inside a PID namespace of
its own, so whatever learner code might leave running dies with it, and sets the environment
variable SCRATCHGRAD_TEST_SECRET, which no output may contain.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True  # the project copy must stay byte-identical except for what attacks do


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for folder in folders:
        for dirpath, dirs, names in os.walk(folder):
            dirs[:] = [d for d in dirs if d != ".hypothesis"]  # the grader's own example cache, not learner writes
            for name in names:
                path = os.path.join(dirpath, name)
                st = os.lstat(path)
                out[path] = (st.st_size, st.st_mtime_ns)
    return out


def listener() -> tuple[int, list[str]]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[str] = []

    def serve() -> None:
        while True:
            conn, peer = server.accept()
            accepted.append(str(peer))
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], accepted


def main() -> None:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    project, work, mark = Path(cfg["project"]), Path(cfg["work"]), cfg["mark"]
    sys.path.insert(0, str(project))
    os.chdir(project)
    import torch

    from autograder.grading import grade
    from autograder.program import Program
    from autograder.worker import Worker, WorkerFault
    import runpy
    bank = runpy.run_path(cfg["bank"])
    ATTACKS, ATTACK_IN_SOFTMAX, STEAL_AT_IMPORT = bank["ATTACKS"], bank["ATTACK_IN_SOFTMAX"], bank["STEAL_AT_IMPORT"]

    port, accepted = listener()
    live, peer = work / "live", work / "peer"
    live.mkdir()
    peer.mkdir()
    fill = {"@PROJECT@": repr(str(project)), "@PEER@": repr(str(peer)), "@LIVE@": repr(str(live)),
            "@MARK@": repr(mark), "@PORT@": str(port)}
    attacks = ATTACKS
    for key, value in fill.items():
        attacks = attacks.replace(key, value)
    (live / "a99_hostile.py").write_text(attacks)
    solution = (project / "solutions" / "a03_attention.py").read_text()
    (peer / "a03_attention.py").write_text(solution)
    (peer / "a99_hostile.py").write_text(attacks)
    before = snapshot(project, peer, live)
    out: dict = {"uid": os.getuid(), "attacks": {}}

    def call(w: Worker, fn: str, arg: torch.Tensor) -> object:
        p = Program("a99_hostile")
        p.returns(out=p.call(fn, arg))
        try:
            resp = w.run(p.to_json(), p.tensors, timeout_s=60.0)
        except WorkerFault as fault:
            return f"worker fault: {fault.reason}"
        return resp.returns["out"] if resp.status == "ok" else f"{resp.status}: {resp.error}"

    t0 = time.monotonic()
    with Worker(peer) as victim, Worker(live) as w:
        out["victim_before"] = str(call(victim, "echo", torch.ones(1)))
        for fn in ("read_instructor_files", "write_outside", "grader_process", "processes", "background_thread",
                   "disk", "network"):
            t1 = time.monotonic()
            out["attacks"][fn] = call(w, fn, torch.ones(1))
            out.setdefault("attack_s", {})[fn] = round(time.monotonic() - t1, 2)
        assert victim.proc is not None
        out["attacks"]["kill_peer"] = call(w, "kill_peer", torch.tensor([victim.proc.pid]))
        # the grader itself by its pid (the worker's parent is the zygote when it was forked from one)
        out["attacks"]["kill_grader"] = call(w, "kill_peer", torch.tensor([os.getpid()]))
        out["forked"] = type(w.proc).__name__ == "ForkedProc"
        out["victim_after"] = str(call(victim, "echo", torch.ones(1)))
        out["worker_after"] = str(call(w, "echo", torch.ones(1)))
        out["worker_starts"] = w.starts
        out["protections"] = w.protections
    out["bank_s"] = round(time.monotonic() - t0, 2)

    stub = (project / "assignments" / "a03_attention.py").read_text()
    steal = work / "steal"
    steal.mkdir()
    (steal / "a03_attention.py").write_text(stub + STEAL_AT_IMPORT.replace("@PROJECT@", repr(str(project))))
    attack = work / "attack"
    attack.mkdir()
    anchor = "    x_max = x.amax(dim=dim, keepdim=True)"
    assert solution.count(anchor) == 1
    (attack / "a03_attention.py").write_text(solution.replace(anchor, ATTACK_IN_SOFTMAX + anchor)
                                             + f"\n_ATTACKS = {attacks!r}\n")
    plain = work / "plain-stub"
    plain.mkdir()
    (plain / "a03_attention.py").write_text(stub)
    out["grades"] = {}
    for name, folder in (("plain_stub", plain), ("steal_at_import", steal), ("attack_in_softmax", attack)):
        t0 = time.monotonic()
        # integrity=False: these payloads (open, os, ctypes) would be stopped by the static integrity scan
        # before any of them ran; here the kernel's confinement behind it is what is tested
        report = grade(folder, ["a03_attention"], integrity=False)
        out["grades"][name] = {"score": report.score, "max_score": report.max_score, "json": report.to_json(),
                               "checks": {c.name: c.status for a in report.assignments for c in a.checks},
                               "seconds": round(time.monotonic() - t0, 2)}
    time.sleep(4)  # past the moment a setsid grandchild would have written its file
    from autograder.launch import stop_zygotes
    stop_zygotes()  # the grader's own helper (SCRATCHGRAD_ZYGOTE=1): it goes when the grader does
    me = os.getpid()
    out["leftover_processes"] = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        if pid not in (1, me):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue  # gone meanwhile
            out["leftover_processes"].append(f"{pid}: {cmd[:200]}")
    after = snapshot(project, peer, live)
    out["changed_files"] = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    out["marks_elsewhere"] = sorted(str(p) for d in ("/tmp", "/dev/shm") for p in Path(d).glob(f"{mark}*"))
    out["tcp_accepted"] = accepted
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
