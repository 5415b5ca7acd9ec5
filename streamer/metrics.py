"""Prometheus metrics, on an injected registry, reached through named hooks.

Each component records through these methods rather than touching collectors, so metric names
and labels are decided in one place and each test can use a fresh `CollectorRegistry`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, Info

from streamer import __version__


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self._info = Info("streamer_build", "Version of the lead sync streamer", registry=r)
        self._info.info({"version": __version__})
        self._up = Gauge("streamer_component_up", "1 while a component runs healthy, else 0",
                         ["component"], registry=r)

    def component_up(self, component: str, up: bool) -> None:
        self._up.labels(component).set(1 if up else 0)
