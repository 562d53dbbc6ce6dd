"""gunicorn entry point: `gunicorn -c python:worklink.web.gunicorn_conf worklink_notifications.wsgi:app`."""

from worklink_notifications.app import create_app

app = create_app()
