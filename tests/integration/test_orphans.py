import os
import subprocess
import sys
import time

from base.isolation import adopt_orphans, adopts_orphans, children, release_orphans, stop_orphans


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
    release_orphans()


def test_once_released_an_orphan_goes_to_init_again() -> None:
    assert adopt_orphans() and adopts_orphans()
    release_orphans()
    assert not adopts_orphans()
    script = (
        "import subprocess\n"
        "quiet = {'stdin': subprocess.DEVNULL, 'stdout': subprocess.DEVNULL, 'stderr': subprocess.DEVNULL}\n"
        "sleeper = subprocess.Popen(['sleep', '300'], start_new_session=True, **quiet)\n"
        "print(sleeper.pid, flush=True)\n"
    )
    sleeper = int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
    try:
        time.sleep(0.2)
        assert sleeper not in children()  # not this process's: a daemon started now is no zombie of it later
    finally:
        os.kill(sleeper, 9)
