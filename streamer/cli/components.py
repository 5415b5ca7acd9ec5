"""Which components `streamer run` can start, by name (`run.components`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from streamer.capture.component import CaptureComponent
from streamer.config import Settings
from streamer.errors import ConfigError
from streamer.metrics import Metrics
from streamer.service import Component, ComponentFactory

# Filled in as the capabilities land (capture, sink, webhook, applier).
FACTORIES: dict[str, ComponentFactory] = {
    "capture": CaptureComponent,
}


def _webhook(settings: Settings, metrics: Metrics) -> Component:
    from streamer.webhook.component import WebhookBridge

    return WebhookBridge(settings, metrics)


def _applier(settings: Settings, metrics: Metrics) -> Component:
    from streamer.applier.component import ReverseApplier

    return ReverseApplier(settings, metrics)


def _sink(settings: Settings, metrics: Metrics) -> Component:
    from streamer.sink.component import SinkComponent

    return SinkComponent(settings, metrics)


FACTORIES["sink"] = _sink


def _exporter(settings: Settings, metrics: Metrics) -> Component:
    from streamer.history.component import ExporterComponent
    from streamer.sink.component import land_burst

    return ExporterComponent(settings, metrics, land=land_burst)


FACTORIES["webhook"] = _webhook
FACTORIES["applier"] = _applier
FACTORIES["exporter"] = _exporter


def _monitor(settings: Settings, metrics: Metrics) -> Component:
    from streamer.cli.console import jwt_check, operations
    from streamer.monitor.component import MonitorComponent

    # The console's checks, verify, mapping and JWT check belong to other features: passed in, not imported.
    return MonitorComponent(settings, metrics, operations(settings), jwt_check(settings))


FACTORIES["monitor"] = _monitor


def _verify(settings: Settings, metrics: Metrics) -> Component:
    from streamer.verify.component import VerifyComponent

    return VerifyComponent(settings, metrics)


FACTORIES["verify"] = _verify


def _notify(settings: Settings, metrics: Metrics) -> Component:
    from streamer.notify.component import NotifyComponent

    return NotifyComponent(settings, metrics)


FACTORIES["notify"] = _notify


def readiness_of(components: Sequence[Component]) -> Callable[[], dict[str, tuple[bool, bool]]]:
    """Each component's (ready, alive), as /readyz and /healthz tell them: what the notifier watches."""

    def states() -> dict[str, tuple[bool, bool]]:
        return {c.name: (c.ready(), getattr(c, "healthy", lambda: True)()) for c in components}

    return states


def build_components(settings: Settings, metrics: Metrics) -> list[Component]:
    missing = [name for name in settings.run.components if name not in FACTORIES]
    if missing:
        raise ConfigError([f"STREAMER_RUN__COMPONENTS: {', '.join(missing)} not built in this version "
                           f"(available: {', '.join(FACTORIES) or 'none yet'})"])
    built = [FACTORIES[name](settings, metrics) for name in settings.run.components]
    from streamer.notify.component import NotifyComponent

    for component in built:
        if isinstance(component, NotifyComponent):  # the sink's readiness, without importing the sink
            component.watch(readiness_of([c for c in built if c is not component]))
    return built
