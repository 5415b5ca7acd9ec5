"""The notify section: off until a relay is set, plain addresses only, the password a secret, and
the component refusing to start without what it needs; the wiring hands it the sink's readiness."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.cli.components import build_components
from streamer.config import RunSettings, Settings, load_settings
from streamer.errors import ConfigError
from streamer.metrics import Metrics
from streamer.notify.component import NotifyComponent
from streamer.sections import NotifySettings


def test_notifications_are_off_until_a_relay_is_set() -> None:
    assert not Settings().notify.enabled
    assert NotifySettings(smtp_host="smtp.example.com").enabled


@pytest.mark.parametrize("address", ["ops", "ops@localhost", "Ops <ops@example.com>", "ops@example.com\r\nBcc: x@y.z",
                                     "a@example.com,b@example.com"])
def test_a_recipient_must_be_one_plain_address(address: str) -> None:
    with pytest.raises(ValueError, match="expected a plain e-mail address"):
        NotifySettings(recipients=(address,))


def test_the_environment_names_the_bad_setting_and_not_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMER_NOTIFY__RECIPIENTS", "ops@example.com")  # not JSON
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.problems == ["STREAMER_NOTIFY__RECIPIENTS: expected a JSON list such as "
                                     "'[\"ops@example.com\"]'; the value is not JSON"]
    monkeypatch.setenv("STREAMER_NOTIFY__RECIPIENTS", '["ops@example.com"]')
    monkeypatch.setenv("STREAMER_NOTIFY__SMTP_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("STREAMER_NOTIFY__SMTP_PORT", "0")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "STREAMER_NOTIFY__SMTP_PORT" in str(caught.value) and "hunter2" not in str(caught.value)


def test_the_smtp_password_is_a_secret_for_the_log_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(notify=NotifySettings(smtp_password="hunter2-secret"))
    assert "hunter2-secret" in settings.secrets()
    assert "hunter2-secret" not in repr(settings.notify)


def test_the_component_refuses_to_start_without_relay_recipients_or_half_a_login(tmp_path: Path) -> None:
    settings = Settings(notify=NotifySettings(smtp_password="hunter2-secret", smtp_ca_file=tmp_path / "none.pem"))
    with pytest.raises(ConfigError) as caught:
        NotifyComponent(settings, Metrics())
    problems = caught.value.problems
    assert [p.split(":")[0] for p in problems] == [
        "STREAMER_NOTIFY__SMTP_HOST", "STREAMER_NOTIFY__RECIPIENTS",
        "STREAMER_NOTIFY__SMTP_USERNAME and STREAMER_NOTIFY__SMTP_PASSWORD", "STREAMER_NOTIFY__SMTP_CA_FILE"]
    assert "hunter2" not in str(caught.value)


def test_the_wiring_hands_the_notifier_the_readiness_of_the_other_components() -> None:
    settings = Settings(run=RunSettings(components=("sink", "notify")),
                        notify=NotifySettings(smtp_host="smtp.example.com", recipients=("ops@example.com",)))
    sink, notifier = build_components(settings, Metrics())
    assert isinstance(notifier, NotifyComponent)
    assert notifier.readiness() == {"sink": (False, True)}  # not consuming yet, alive
