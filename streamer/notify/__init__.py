"""E-mail notifications (component "notify", docs/notifications.md): a job that failed, sink
errors above a threshold, the sink blocked; rate-limited, sent over SMTP.

`message.py` builds the e-mails (pure: what they may say, in pt-BR), `outbox.py` decides when
(pure: the rate limit, what was held back, retries), `watch.py` reads the state that raises
them (the jobs and error tables, the components' readiness), `smtp.py` sends, and `component.py`
runs the loop.
"""
