"""gunicorn entry point: `gunicorn -c python:worklink.web.gunicorn_conf worklink_adjustments.wsgi:app`."""

from worklink_adjustments.app import create_app

app = create_app()
