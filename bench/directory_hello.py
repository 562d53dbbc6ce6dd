"""The baseline for bench/directory.py: hello-world Flask, served by gunicorn with the same settings."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return {"hello": "world"}
