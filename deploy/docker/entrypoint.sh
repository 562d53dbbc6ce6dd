#!/bin/sh
# web: migrate this service's own database, then serve under gunicorn on :8000
# relay: publish the outbox to Kafka        consume: handle incoming events
# job <name>: one of the service's background jobs (its jobs.py)
set -eu
case "${1:-web}" in
  web)     worklink db upgrade --service "$WORKLINK_SERVICE"
           exec worklink serve --service "$WORKLINK_SERVICE" --bind 0.0.0.0:8000 ;;
  relay)   exec worklink relay --service "$WORKLINK_SERVICE" --metrics-port "${METRICS_PORT:-9100}" ;;
  consume) exec worklink consume --service "$WORKLINK_SERVICE" --metrics-port "${METRICS_PORT:-9100}" ;;
  job)     exec worklink job --service "$WORKLINK_SERVICE" "$2" --metrics-port "${METRICS_PORT:-9100}" ;;
  *)       exec "$@" ;;
esac
