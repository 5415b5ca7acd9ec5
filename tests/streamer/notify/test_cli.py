"""`streamer notify test`: one test e-mail through the real relay, or one error line."""

from __future__ import annotations

from typer.testing import CliRunner

from streamer.cli.app import app
from tests.streamer.notify.conftest import PASSWORD, SmtpServer, text

runner = CliRunner()


def env_of(server: SmtpServer, password: str = PASSWORD) -> dict[str, str]:
    return {"STREAMER_NOTIFY__SMTP_HOST": "localhost", "STREAMER_NOTIFY__SMTP_PORT": str(server.port),
            "STREAMER_NOTIFY__SMTP_CA_FILE": str(server.ca_file), "STREAMER_NOTIFY__SMTP_USERNAME": "notifier",
            "STREAMER_NOTIFY__SMTP_PASSWORD": password, "STREAMER_NOTIFY__RECIPIENTS": '["ops@example.com"]'}


def test_notify_test_sends_one_test_email(smtp_server: SmtpServer) -> None:
    result = runner.invoke(app, ["notify", "test"], env=env_of(smtp_server))
    assert result.exit_code == 0, result.output
    assert "sent a test e-mail to 1 recipient(s)" in result.output
    [mail] = smtp_server.inbox.messages("test")
    assert "Teste de notificação" in text(mail)


def test_a_refused_login_is_one_error_line_without_the_password(smtp_server: SmtpServer) -> None:
    result = runner.invoke(app, ["notify", "test"], env=env_of(smtp_server, "wrong-password-xyz"))
    assert result.exit_code == 1
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [
        line for line in result.output.splitlines() if "refused the login" in line]
    assert "wrong-password-xyz" not in result.output and smtp_server.inbox.mails == []


def test_without_a_relay_it_says_what_to_set() -> None:
    result = runner.invoke(app, ["notify", "test"], env={"STREAMER_NOTIFY__SMTP_HOST": ""})
    assert result.exit_code == 2
    assert "STREAMER_NOTIFY__SMTP_HOST" in result.output
