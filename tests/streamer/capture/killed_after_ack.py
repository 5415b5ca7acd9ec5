"""`streamer run`, but SIGKILLed from inside the capture's Nth standby status update on the
protocol path: after Kafka acknowledged the batch, before the server hears of it.

    KILL_AT_CONFIRM=N python -m tests.streamer.capture.killed_after_ack
"""

from __future__ import annotations

import os
import signal
import sys

from streamer.capture.protocol import StreamSource


def main() -> None:
    kill_at, calls = int(os.environ["KILL_AT_CONFIRM"]), 0
    confirm = StreamSource.confirm

    def confirm_or_die(self: StreamSource, lsn: int) -> None:
        nonlocal calls
        calls += 1
        if calls >= kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        confirm(self, lsn)

    StreamSource.confirm = confirm_or_die  # type: ignore[method-assign]
    from streamer.cli.app import main as streamer

    sys.argv = ["streamer", "run"]
    streamer()


if __name__ == "__main__":
    main()
