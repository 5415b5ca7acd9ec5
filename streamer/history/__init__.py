"""History: export jobs by date range, topic replays, and error retries (issue 7)."""
