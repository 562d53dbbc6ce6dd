"""The development mail server `./dev up` runs (DEV_JOBS mail-sink): it keeps each message as an .eml file,
and its log never holds a recipient's address (a resident's must not outlive the address the worker erases)."""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from email.message import EmailMessage

import pytest

from worklink.config import Settings
from worklink.devstack import free_port, port_open
from worklink_notifications.jobs import mail_sink

pytestmark = pytest.mark.timeout(60)


def test_the_development_mail_server_keeps_the_message_and_logs_no_address(tmp_path, caplog, monkeypatch):
    port = free_port()
    monkeypatch.setenv("NOTIFICATIONS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("NOTIFICATIONS_SMTP_PORT", str(port))
    settings = Settings.from_env("notifications", {"WORKLINK_VAR": str(tmp_path)})
    caplog.set_level(logging.DEBUG)  # more than `worklink up` logs (INFO)
    stop = threading.Event()
    job = threading.Thread(target=mail_sink, args=(settings, stop))
    job.start()
    try:
        deadline = time.monotonic() + 20
        while not port_open(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "no-reply@worklink.invalid", \
            "yolanda.resident@example.org", "Your referral"
        message.set_content("Your referral was received.")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(message)
    finally:
        stop.set()
        job.join(10)
    [kept] = (tmp_path / "mail").glob("*.eml")
    assert "yolanda.resident@example.org" in kept.read_text()
    assert "mail kept" in caplog.text
    assert "yolanda" not in caplog.text
