"""A ``govmedia`` command that stops in an amplify run's gap: the hub's outcome written, no member handed out.

``python stop_in_gap.py HOW ARGS...`` runs ``govmedia ARGS...`` (a
``worker``, or a ``fan-out --at``); when a delivery of the hub has made its
outcome durable and hands the run's members out (`Runner.hand_out` called by
`Runner.deliver`), HOW happens instead:

- ``kill``: the process is SIGKILLed (the OOM killer, a power cut);
- ``term``: it is sent SIGTERM (a supervisor stopping it) and waits there;
- ``fail``: the hand-out raises, as a Redis that refused the messages would.

The tests thereby stop a process exactly in that gap, not by racing a signal.
"""

import os
import signal
import sys


def stop_in_the_gap(how: str) -> None:
    import anyio

    from govmedia import _remote

    hand_out = _remote.Runner.hand_out
    done = []

    async def in_the_gap(self, run_id, *, lost_after=None):
        hub = self.journal.hub_of(run_id)
        if (done or lost_after is not None or hub is None
                or not self.journal.settled_in(run_id, *hub)):
            return await hand_out(self, run_id, lost_after=lost_after)
        done.append(run_id)
        print(f"stop_in_gap: {how} after the hub of {run_id}", flush=True)
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if how == "term":
            os.kill(os.getpid(), signal.SIGTERM)
            await anyio.sleep_forever()
        import redis

        raise redis.exceptions.ConnectionError("stop_in_gap: Redis refused the members")

    _remote.Runner.hand_out = in_the_gap


if __name__ == "__main__":
    stop_in_the_gap(sys.argv.pop(1))
    from govmedia.cli import main

    sys.exit(main())
