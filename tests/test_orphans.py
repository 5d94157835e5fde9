import os
import subprocess
import sys
import time

from base.orphans import adopt_orphans, children, stop_orphans


def test_an_orphan_is_inherited_then_killed_and_reported_while_ended_ones_are_only_reaped() -> None:
    assert adopt_orphans()
    known = children()
    # A parent that starts a sleeper in a session of its own and a short-lived process, then exits.
    script = (
        "import subprocess, sys\n"
        "quiet = {'stdin': subprocess.DEVNULL, 'stdout': subprocess.DEVNULL, 'stderr': subprocess.DEVNULL}\n"
        "sleeper = subprocess.Popen(['sleep', '300'], start_new_session=True, **quiet)\n"
        "subprocess.Popen(['true'], **quiet)\n"
        "print(sleeper.pid, flush=True)\n"
    )
    parent = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    sleeper = int(parent.stdout)
    time.sleep(0.5)  # the short-lived one has ended by now
    assert sleeper in children() - known  # it came to this process, not to init
    left = stop_orphans(known)
    assert [(orphan.pid, orphan.command) for orphan in left] == [(sleeper, "sleep 300")]
    assert not os.path.exists(f"/proc/{sleeper}") and children() == known
