"""The hello-world Flask app bench/adjustments.py compares the adjustments service with."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "hello, world"
