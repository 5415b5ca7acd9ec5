"""`streamer notify test`: send one test e-mail with the `STREAMER_NOTIFY__*` settings
(docs/notifications.md), to check the relay, the login and the recipients before relying on them."""

from __future__ import annotations

import asyncio

import typer

from streamer.cli.common import ConfigOption, fail, out, reported, settings_or_exit

notify_app = typer.Typer(no_args_is_help=True, help="E-mail notifications (docs/notifications.md).")


@notify_app.command("test")
def notify_test(config: ConfigOption = None) -> None:
    """Send a test e-mail to the configured recipients; exit 1 if the relay refuses it."""
    from streamer.notify.message import test_mail
    from streamer.notify.smtp import send

    settings = settings_or_exit(config)
    problems = settings.notify.problems()
    if problems:
        fail("; ".join(problems), 2)
    with reported():
        asyncio.run(send(settings.notify, test_mail(settings.notify.subject_prefix)))
    out.print(f"sent a test e-mail to {len(settings.notify.recipients)} recipient(s) through "
              f"{settings.notify.smtp_host}:{settings.notify.smtp_port}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `streamer notify` to the `streamer` command."""
    app.add_typer(notify_app, name="notify")
