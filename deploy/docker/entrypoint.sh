#!/bin/sh
# web: migrate this service's own database, then serve under gunicorn on :8000
# relay: publish the outbox to Kafka        consume: handle incoming events
# job <name>: one of the service's background jobs (its jobs.py)
# topics: create this service's own topics and check those it reads   health: the HEALTHCHECK
set -eu
case "${1:-web}" in
  web)     worklink db upgrade --service "$WORKLINK_SERVICE"
           exec worklink serve --service "$WORKLINK_SERVICE" --bind 0.0.0.0:8000 ;;
  relay)   exec worklink relay --service "$WORKLINK_SERVICE" --metrics-port "${METRICS_PORT:-9100}" ;;
  consume) exec worklink consume --service "$WORKLINK_SERVICE" --metrics-port "${METRICS_PORT:-9100}" ;;
  job)     exec worklink job --service "$WORKLINK_SERVICE" "$2" --metrics-port "${METRICS_PORT:-9100}" ;;
  topics)  exec worklink topics --service "$WORKLINK_SERVICE" ;;
  health)  # the image's HEALTHCHECK: the web app answers on :8000; a relay, consumer or job (no web
           # server) answers /healthz on its metrics port, a 503 once its loop has stopped making progress
           # (stuck: a hung socket, a deadlock). Which one this container runs is its first process's.
           if tr '\0' ' ' < "/proc/${WORKLINK_HEALTH_PID:-1}/cmdline" | grep -q gunicorn; then
             url="http://127.0.0.1:8000/healthz"
           else  # where METRICS_BIND put them: the container's own address, or loopback (which 0.0.0.0 and :: include)
             case "${METRICS_BIND:-}" in
               ""|0.0.0.0) host=127.0.0.1 ;;
               ::)         host="[::1]" ;;
               *:*)        host="[${METRICS_BIND}]" ;;
               *)          host="${METRICS_BIND}" ;;
             esac
             url="http://${host}:${METRICS_PORT:-9100}/healthz"
           fi
           exec python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen(sys.argv[1], timeout=3).status != 200)" "$url" ;;
  *)       exec "$@" ;;
esac
