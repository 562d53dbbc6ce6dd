"""gunicorn settings shared by every service: `gunicorn -c python:worklink.gunicorn_conf ...`.

Kept outside `worklink.web` on purpose: Prometheus's multiprocess directory must
be set before any metric is created, i.e. before the app is imported.
"""

import gc
import os
import shutil
import tempfile

_prom_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_prom_dir_is_ours = not _prom_dir  # made here, so removed here (on_exit)
if not _prom_dir:
    _prom_dir = tempfile.mkdtemp(prefix="worklink-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _prom_dir
else:  # stale files from a previous run would be summed into ours
    shutil.rmtree(_prom_dir, ignore_errors=True)
    os.makedirs(_prom_dir, exist_ok=True)

from worklink import gunicorn_errors  # noqa: E402 - after the metrics directory is set

gunicorn_errors.install()  # what gunicorn itself refuses (414, 431, 400) is problem+json too

bind = os.environ.get("WORKLINK_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WORKLINK_THREADS", "4"))
# Safe because web workers never create Kafka clients: they write to the outbox,
# and the relay (its own process) publishes.
preload_app = True
timeout = 30
graceful_timeout = 20
keepalive = 5
# No runtime control socket (gunicorn 25+ made one at ~/.gunicorn/gunicorn.ctl): the orchestrator or `worklink up`
# runs the process, and every service on one machine shared that one path.
control_socket_disable = True
# Proxies are trusted in one place, the app's WORKLINK_TRUSTED_PROXIES: gunicorn's own default believes
# X-Forwarded-Proto from any local process, which turned plain HTTP into "HTTPS" (HSTS, Secure cookies).
forwarded_allow_ips = ""
accesslog = None  # the app logs each request as JSON, with its request id (see gunicorn.access below)
errorlog = "-"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "worklink.logs.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    # gunicorn shallow-merges this over its defaults, so name every part they reference.
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        # gunicorn writes an access line whenever logconfig_dict is set, whatever accesslog says: the raw URL,
        # query string and all (an NHS number, a secret link's token) in plain text. The app's JSON request
        # line, tokens masked, is the one access log.
        "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}


def pre_fork(server, worker):
    # The app is preloaded in the master: freeze what it built (modules, schemas, SQL caches)
    # so the workers' garbage collector never rescans it - less CPU per request, and the
    # pages stay shared between workers instead of being copied on a GC write.
    gc.freeze()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    # The directory made at start goes with the server: every start (each `worklink up`, each restart of
    # a web process) made a new one and left it, metrics files and all, in the temporary directory.
    if _prom_dir_is_ours:
        shutil.rmtree(_prom_dir, ignore_errors=True)
