"""The directory app as gunicorn serves it, plus one slow route: a request still in flight when SIGTERM comes
(tests/platform/test_web_process.py)."""

import time

from worklink_directory.app import create_app

app = create_app()


@app.get("/slow")
def slow():
    time.sleep(3)
    return {"finished": True}
