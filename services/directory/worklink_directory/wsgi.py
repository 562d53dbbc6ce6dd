"""gunicorn entry point: `gunicorn -c python:worklink.web.gunicorn_conf worklink_directory.wsgi:app`."""

from worklink_directory.app import create_app

app = create_app()
