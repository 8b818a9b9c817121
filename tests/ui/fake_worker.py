"""A scripted stand-in for ``python -m jobs.worker``: speaks the protocol, does no work.

Usage: python tests/ui/fake_worker.py MODE, where MODE is
- ``obedient``: a job sends started + progress, then finishes when told to cancel;
- ``stubborn``: a job ignores cancel (the client must SIGTERM it);
- ``deaf``: ignores cancel and SIGTERM (the client must SIGKILL it);
- ``crash``: exits with code 3 when a job is submitted;
- ``noisy``: prints junk on stdout before ready (the real worker never does; checks robustness).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def send(kind: str, **fields: object) -> None:
    sys.stdout.write(json.dumps({"v": 1, "type": kind, **fields}) + "\n")
    sys.stdout.flush()


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "obedient"
    if mode == "deaf":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode == "noisy":
        print("Loading checkpoint shards: 100%", flush=True)
    send("ready", pid=os.getpid(), versions={"fake": mode})
    for line in sys.stdin:
        message = json.loads(line)
        kind = message["type"]
        if kind == "submit":
            if mode == "crash":
                sys.stderr.write("Segmentation fault (pretend)\n")
                sys.stderr.flush()
                os._exit(3)
            job = message["job_id"]
            send("started", job_id=job, run_id="fake-run")
            send("progress", job_id=job, stage="select", done=1, total=4, detail="")
            if mode == "noisy":
                send("done", job_id=job, run_id="fake-run", results=[])
        elif kind == "cancel":
            if mode in ("obedient", "noisy"):
                send("cancelled", job_id=message["job_id"], run_id="fake-run")
            else:
                time.sleep(0.01)  # pretend to be stuck in a long batch
        elif kind == "ping":
            send("pong")
        elif kind == "shutdown":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
