"""Verify & repair (issue 18): source and destination leads compared by id ranges, Merkle-style,
and what differs re-landed through the topic as a job."""
