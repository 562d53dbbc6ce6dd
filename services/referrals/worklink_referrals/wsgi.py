"""gunicorn entry point: `gunicorn -c python:worklink.web.gunicorn_conf worklink_referrals.wsgi:app`."""

from worklink_referrals.app import create_app

app = create_app()
