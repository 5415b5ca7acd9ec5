"""The Sync Monitor: the operators' page and API over jobs, errors and the components' health."""
