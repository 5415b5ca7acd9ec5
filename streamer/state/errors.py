"""Errors of the history jobs (exports, replays, retries).

    HistoryError            root (a StreamerError); `retriable` says whether trying again may help
    ├── JobNotFound         no job has that id (or prefix)
    ├── InvalidTransition   the action is not allowed from the job's current state
    ├── ConcurrentChange    the job changed between reading and writing it (optimistic check)
    └── BackupError         `export start --backup` could not copy the destination's leads
"""

from __future__ import annotations

from streamer.errors import StreamerError


class HistoryError(StreamerError):
    pass


class JobNotFound(HistoryError):
    pass


class InvalidTransition(HistoryError):
    def __init__(self, status: str, action: str) -> None:
        self.status, self.action = status, action
        super().__init__(f"cannot {action} a job that is {status}")


class ConcurrentChange(HistoryError):
    """Someone else changed the job first; read it again and retry if still wanted."""

    retriable = True

    def __init__(self, job_id: str, action: str) -> None:
        self.job_id, self.action = job_id, action
        super().__init__(f"job {job_id} changed while the {action} was being applied: look again")


class BackupError(HistoryError):
    pass
