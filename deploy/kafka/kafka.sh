#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, combined broker+controller) for WorkLink dev and tests.
# No Docker needed: the broker's jars come from Maven Central (deploy/kafka/pom.xml)
# and are cached once in ${WORKLINK_KAFKA_LIB:-$HOME/.cache/worklink/kafka-<version>/lib}.
#
# Usage:
#   kafka.sh start  [--port 9092] [--controller-port 9093] [--data-dir DIR] [--log-file FILE] [--heap 512m]
#                   [--timeout 90]
#   kafka.sh run    [same options]     # foreground (exec java), for users / compose
#   kafka.sh stop   [--data-dir DIR]
#   kafka.sh status [--data-dir DIR]   # exit 0 if running, 3 if not
#   kafka.sh classpath                 # resolve the jars (if needed) and print the lib dir
#
# Default DIR: ${WORKLINK_VAR:-./var}/kafka.  FILE, the broker's output, defaults to DIR/kafka.log; it is
# appended to, so that `worklink up` may rotate it in place.  Re-running `start` on the same DIR reuses the
# formatted storage (data survives stop/start).  Keep the same ports across restarts of a
# data dir: the controller endpoint is recorded in the KRaft metadata at format time.
#
# Environment:
#   WORKLINK_KAFKA_LIB          jar cache dir (see above)
#   WORKLINK_KAFKA_AUTO_CREATE  true|false (default false: our tooling creates topics explicitly)
#   WORKLINK_KAFKA_LOG_LEVEL    root log level (default INFO)
#   WORKLINK_KAFKA_SASL_USERS   "admin:pw,referrals:pw,...": every listener (controller and inter-broker
#                               too) requires SASL/PLAIN with these users, and the StandardAuthorizer
#                               refuses what no ACL allows; "admin" (required) is the super user.
#                               For tests of `worklink kafka-acls`; production uses SASL_SSL/SCRAM or mTLS.
#   JAVA_HOME / JAVA            java to use
#   MVN                         maven command (default mvn)
#   KAFKA_EXTRA_JVM_OPTS        extra JVM flags
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$SCRIPT_DIR/pom.xml"
LOG4J_CONF="$SCRIPT_DIR/log4j2.properties"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1)"
LIB_DIR="${WORKLINK_KAFKA_LIB:-$HOME/.cache/worklink/kafka-$KAFKA_VERSION/lib}"
JAVA="${JAVA:-${JAVA_HOME:+$JAVA_HOME/bin/}java}"
MVN="${MVN:-mvn}"

PORT=9092
CONTROLLER_PORT=9093
DATA_DIR="${WORKLINK_VAR:-./var}/kafka"
LOG_FILE=""
HEAP=512m
TIMEOUT=90

log() { echo "kafka.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }

parse_opts() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) PORT="$2"; shift 2 ;;
      --port=*) PORT="${1#*=}"; shift ;;
      --controller-port) CONTROLLER_PORT="$2"; shift 2 ;;
      --controller-port=*) CONTROLLER_PORT="${1#*=}"; shift ;;
      --data-dir) DATA_DIR="$2"; shift 2 ;;
      --data-dir=*) DATA_DIR="${1#*=}"; shift ;;
      --log-file) LOG_FILE="$2"; shift 2 ;;
      --log-file=*) LOG_FILE="${1#*=}"; shift ;;
      --heap) HEAP="$2"; shift 2 ;;
      --heap=*) HEAP="${1#*=}"; shift ;;
      --timeout) TIMEOUT="$2"; shift 2 ;;
      --timeout=*) TIMEOUT="${1#*=}"; shift ;;
      -h|--help) usage 0 ;;
      *) die "unknown option: $1" ;;
    esac
  done
  mkdir -p "$DATA_DIR"
  DATA_DIR="$(cd "$DATA_DIR" && pwd)"
  PID_FILE="$DATA_DIR/kafka.pid"
  LOG_FILE="${LOG_FILE:-$DATA_DIR/kafka.log}"
  mkdir -p "$(dirname "$LOG_FILE")"
  PROPS="$DATA_DIR/server.properties"
  LOG_DIRS="$DATA_DIR/data"
}

# --- jars -------------------------------------------------------------------------------
ensure_lib() {
  if [ -f "$LIB_DIR/.complete" ]; then return 0; fi
  command -v "$MVN" >/dev/null 2>&1 || die "maven ($MVN) not found; install it (apt-get install -y maven) or set WORKLINK_KAFKA_LIB to a dir of Kafka $KAFKA_VERSION jars"
  log "resolving Apache Kafka $KAFKA_VERSION jars into $LIB_DIR (one-time)"
  mkdir -p "$(dirname "$LIB_DIR")"
  local tmp
  tmp="$(mktemp -d "$(dirname "$LIB_DIR")/.lib.XXXXXX")"
  # try offline first (works once ~/.m2 has everything), then online
  if ! "$MVN" -q -o -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" >/dev/null 2>&1; then
    rm -rf "$tmp"; mkdir -p "$tmp"
    "$MVN" -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" >&2 \
      || { rm -rf "$tmp"; die "mvn dependency:copy-dependencies failed"; }
  fi
  ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "kafka_2.13 jar missing after resolution"; }
  touch "$tmp/.complete"
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR" 2>/dev/null || { rm -rf "$tmp"; [ -f "$LIB_DIR/.complete" ] || die "could not install $LIB_DIR"; }
}

# --- config -----------------------------------------------------------------------------
write_props() {
  local auto_create="${WORKLINK_KAFKA_AUTO_CREATE:-false}" listeners
  listeners="$(listener_props)"  # its own line: set -e stops here on a bad WORKLINK_KAFKA_SASL_USERS
  cat > "$PROPS.tmp" <<EOF
# generated by deploy/kafka/kafka.sh - single node KRaft (broker+controller), dev/test only
process.roles=broker,controller
node.id=1
$listeners
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
log.dirs=$LOG_DIRS

auto.create.topics.enable=$auto_create
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# fast re-registration after an unclean stop (SIGKILL): the stale broker session expires in 3 s
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
log.segment.bytes=67108864
delete.topic.enable=true
EOF
  mv "$PROPS.tmp" "$PROPS"
}

# The listeners, plain or (WORKLINK_KAFKA_SASL_USERS set) SASL/PLAIN with an authorizer.
listener_props() {
  local users="${WORKLINK_KAFKA_SASL_USERS:-}"
  if [ -z "$users" ]; then
    cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
    return 0
  fi
  local jaas="org.apache.kafka.common.security.plain.PlainLoginModule required" admin_password="" entry name secret
  local IFS=','
  for entry in $users; do
    name="${entry%%:*}"; secret="${entry#*:}"
    [[ "$entry" == *:* && "$name" =~ ^[A-Za-z0-9_.-]+$ && "$secret" =~ ^[A-Za-z0-9_.-]+$ ]] \
      || die "WORKLINK_KAFKA_SASL_USERS: '$name' - each entry is name:password, letters, digits, _ . - only"
    jaas="$jaas user_$name=\"$secret\""
    [ "$name" = admin ] && admin_password="$secret"
  done
  [ -n "$admin_password" ] || die "WORKLINK_KAFKA_SASL_USERS must include the super user admin"
  jaas="$jaas username=\"admin\" password=\"$admin_password\";"
  cat <<EOF
listeners=SASL_PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=$jaas
listener.name.controller.plain.sasl.jaas.config=$jaas
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin
EOF
}

jvm_opts() {
  # modest heap, quick startup on 2 cores
  echo "-Xms$HEAP -Xmx$HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
-XX:+ExplicitGCInvokesConcurrent -XX:ActiveProcessorCount=2 -XX:TieredStopAtLevel=1 -Xss512k \
-Djava.awt.headless=true -Dlog4j2.configurationFile=$LOG4J_CONF -Dkafka.logs.dir=$DATA_DIR \
${KAFKA_EXTRA_JVM_OPTS:-}"
}

classpath() { echo "$LIB_DIR/*"; }

random_cluster_id() {
  # Kafka Uuid: 16 random bytes, url-safe base64 without padding (must not start with '-')
  local id
  while :; do
    id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [ "${id:0:1}" != "-" ] && break
  done
  echo "$id"
}

format_storage() {
  if [ -f "$LOG_DIRS/meta.properties" ]; then return 0; fi
  local cid
  cid="$(random_cluster_id)"
  log "formatting storage in $LOG_DIRS (cluster id $cid)"
  # shellcheck disable=SC2046
  "$JAVA" $(jvm_opts) -cp "$(classpath)" kafka.tools.StorageTool format \
    --standalone --cluster-id "$cid" --config "$PROPS" >>"$LOG_FILE" 2>&1 \
    || { tail -n 40 "$LOG_FILE" >&2; die "storage format failed"; }
}

# --- process helpers --------------------------------------------------------------------
read_pid() { [ -f "$PID_FILE" ] && cat "$PID_FILE" 2>/dev/null || true; }

pid_alive() {
  local pid="$1"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # guard against pid reuse: must be our broker
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka.Kafka' || return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

props_value() { sed -n "s/^$1=//p" "$PROPS" 2>/dev/null | head -n1; }

# --- commands ---------------------------------------------------------------------------
prepare() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (need Java 17+)"
  ensure_lib
  write_props
  format_storage
}

cmd_start() {
  parse_opts "$@"
  local pid
  pid="$(read_pid)"
  if pid_alive "$pid"; then
    log "already running (pid $pid) on $(props_value advertised.listeners | sed 's|^[A-Z_]*://||')"
    return 0
  fi
  rm -f "$PID_FILE"
  if port_open "$PORT"; then die "port $PORT is already in use"; fi
  if port_open "$CONTROLLER_PORT"; then die "controller port $CONTROLLER_PORT is already in use"; fi
  prepare
  touch "$LOG_FILE"
  local start_offset
  start_offset=$(( $(stat -c %s "$LOG_FILE") + 1 ))
  echo "=== kafka.sh start $(date -Is) port=$PORT controller=$CONTROLLER_PORT ===" >>"$LOG_FILE"
  # shellcheck disable=SC2046
  setsid nohup "$JAVA" $(jvm_opts) -cp "$(classpath)" kafka.Kafka "$PROPS" \
    </dev/null >>"$LOG_FILE" 2>&1 &
  pid=$!
  echo "$pid" >"$PID_FILE"
  log "started pid $pid, waiting for 127.0.0.1:$PORT (timeout ${TIMEOUT}s, log $LOG_FILE)"
  local deadline=$(( SECONDS + TIMEOUT ))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -c +"$start_offset" "$LOG_FILE" | tail -n 60 >&2
      rm -f "$PID_FILE"
      die "broker exited during startup"
    fi
    if port_open "$PORT" && tail -c +"$start_offset" "$LOG_FILE" | grep -q 'Kafka Server started'; then
      break
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -c +"$start_offset" "$LOG_FILE" | tail -n 60 >&2
      die "broker not ready after ${TIMEOUT}s (pid $pid still running; stop it with: $0 stop --data-dir $DATA_DIR)"
    fi
    sleep 0.2
  done
  log "ready: bootstrap 127.0.0.1:$PORT (pid $pid)"
  echo "127.0.0.1:$PORT"
}

cmd_run() {
  parse_opts "$@"
  local pid
  pid="$(read_pid)"
  if pid_alive "$pid"; then die "already running (pid $pid)"; fi
  prepare
  echo $$ >"$PID_FILE"
  log "running in foreground on 127.0.0.1:$PORT (data $DATA_DIR)"
  # shellcheck disable=SC2046
  exec "$JAVA" $(jvm_opts) -cp "$(classpath)" kafka.Kafka "$PROPS"
}

cmd_stop() {
  parse_opts "$@"
  local pid
  pid="$(read_pid)"
  if ! pid_alive "$pid"; then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$(( SECONDS + 30 ))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "pid $pid did not exit after 30s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
  log "stopped (pid $pid)"
}

cmd_status() {
  parse_opts "$@"
  local pid
  pid="$(read_pid)"
  if pid_alive "$pid"; then
    echo "running pid=$pid bootstrap=$(props_value advertised.listeners | sed 's|^[A-Z_]*://||') data=$DATA_DIR"
    return 0
  fi
  echo "stopped data=$DATA_DIR"
  return 3
}

cmd_classpath() {
  ensure_lib
  echo "$LIB_DIR"
}

main() {
  [ $# -ge 1 ] || usage 2
  local cmd="$1"; shift
  case "$cmd" in
    start) cmd_start "$@" ;;
    run) cmd_run "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    classpath|lib) cmd_classpath ;;
    -h|--help|help) usage 0 ;;
    *) log "unknown command: $cmd"; usage 2 ;;
  esac
}

main "$@"
