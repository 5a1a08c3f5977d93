#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, broker+controller in one JVM) for development
# and tests -- no Docker, no tarball: the jars come from Maven Central via
# deploy/kafka/pom.xml and are cached in the state directory.
#
# Usage: deploy/kafka/kafka.sh start|stop|kill|status|reset|run-class CLASS [ARGS...]
#
# Environment (all optional):
#   KAFKA_PORT             PLAINTEXT port on 127.0.0.1            (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port                  (default KAFKA_PORT+1)
#   KAFKA_STATE_DIR        lib/, data/, logs, pid file; relative paths are taken
#                          relative to the repository root         (default deploy/kafka/.state)
#   KAFKA_LIB_DIR          where the broker's jars are cached; brokers of several
#                          state dirs can share one                 (default KAFKA_STATE_DIR/lib)
#   KAFKA_HEAP_OPTS        JVM heap options                        (default -Xmx512m -Xms256m)
#   KAFKA_OPTS             extra JVM options (word-split)
#   KAFKA_START_TIMEOUT    seconds to wait for readiness          (default 90)
#   KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM          (default 30)
#   JAVA_HOME / MVN        java and maven to use                   (default: from PATH)
#
# status / stop / reset act on whatever broker runs from the state directory
# (its port is read back from the generated server.properties).
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd -P)
POM="$SCRIPT_DIR/pom.xml"
LOG4J_SERVER="$SCRIPT_DIR/log4j.properties"
LOG4J_TOOLS="$SCRIPT_DIR/tools-log4j.properties"

STATE_DIR=${KAFKA_STATE_DIR:-$SCRIPT_DIR/.state}
case "$STATE_DIR" in
    /*) ;;
    *) STATE_DIR="$REPO_ROOT/$STATE_DIR" ;;
esac
LIB_DIR=${KAFKA_LIB_DIR:-$STATE_DIR/lib}
case "$LIB_DIR" in
    /*) ;;
    *) LIB_DIR="$REPO_ROOT/$LIB_DIR" ;;
esac
DATA_DIR="$STATE_DIR/data"
PROPS="$STATE_DIR/server.properties"
PID_FILE="$STATE_DIR/kafka.pid"
SERVER_LOG="$STATE_DIR/server.log"
CONSOLE_LOG="$STATE_DIR/kafka.out"
LOCK_FILE="$STATE_DIR/.lock"
POM_SUM_FILE="$LIB_DIR/.pom.sha256"

HOST=127.0.0.1
PORT=${KAFKA_PORT:-9092}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    JAVA="$JAVA_HOME/bin/java"
else
    JAVA=java
fi
MVN=${MVN:-mvn}

KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1)

# ---------------------------------------------------------------- helpers ---

log() { printf 'kafka: %s\n' "$*"; }
warn() { printf 'kafka: WARNING: %s\n' "$*" >&2; }
die() { printf 'kafka: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    cat >&2 <<EOF
usage: $(basename -- "$0") start|stop|kill|status|reset|run-class CLASS [ARGS...]

  start      fetch jars (first run), format storage (first run), start the broker
             on $HOST:\${KAFKA_PORT:-9092} and wait until it is ready
  stop       stop the broker (SIGTERM, SIGKILL after \${KAFKA_STOP_TIMEOUT:-30} s)
  kill       SIGKILL the broker at once, as a crash would (fault tests); data kept
  status     print "running (pid N) on HOST:PORT" and exit 0, or "stopped" and exit 1
  reset      stop if running and wipe the data directory (keeps downloaded jars)
  run-class  run a Kafka class with the broker's class path, e.g.
             run-class org.apache.kafka.tools.TopicCommand --bootstrap-server $HOST:9092 --list

state dir: $STATE_DIR
EOF
}

now() {
    if [[ -n "${EPOCHREALTIME:-}" ]]; then
        printf '%s\n' "${EPOCHREALTIME/,/.}"
    else
        date +%s.%N
    fi
}

elapsed_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

valid_port() { is_uint "$1" && ((10#$1 > 0 && 10#$1 < 65536)); }

# port_open PORT: true if something accepts TCP connections on $HOST:PORT
port_open() {
    # shellcheck disable=SC2016  # $0/$1 are expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null
}

# who_listens PORT: best-effort description of the process listening on PORT
who_listens() {
    if command -v ss >/dev/null 2>&1; then
        ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -n1
    fi
}

# pid_alive PID: process exists and is our broker (guards against recycled pids)
pid_alive() {
    local pid=$1 args
    is_uint "$pid" || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    args=$(ps -ww -o args= -p "$pid" 2>/dev/null) || return 1
    [[ "$args" == *kafka.Kafka* && "$args" == *"$PROPS"* ]]
}

# running_pid: print the pid of the broker of this state dir, if it is alive
running_pid() {
    local pid
    [[ -f "$PID_FILE" ]] || return 1
    pid=$(tr -dc '0-9' <"$PID_FILE")
    pid_alive "$pid" || return 1
    printf '%s\n' "$pid"
}

# configured_port: PLAINTEXT port the state dir's broker was started with
configured_port() {
    local p=""
    if [[ -f "$PROPS" ]]; then
        p=$(sed -n 's|^advertised.listeners=PLAINTEXT://[^:]*:\([0-9]*\).*|\1|p' "$PROPS" | head -n1)
    fi
    printf '%s\n' "${p:-$PORT}"
}

take_lock() {
    mkdir -p "$STATE_DIR"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$LOCK_FILE"
        flock -w 120 9 || die "another kafka.sh is busy with $STATE_DIR (lock $LOCK_FILE)"
    fi
}

pom_sum() { sha256sum "$POM" | cut -d' ' -f1; }

# ensure_lib: download the runtime class path once (re-done when pom.xml changes)
ensure_lib() {
    local sum tmp mvn_log
    sum=$(pom_sum)
    if [[ -f "$POM_SUM_FILE" && "$(cat "$POM_SUM_FILE")" == "$sum" ]] &&
        compgen -G "$LIB_DIR/kafka_2.13-*.jar" >/dev/null; then
        return 0
    fi
    command -v "$MVN" >/dev/null 2>&1 || die "maven ('$MVN') not found; it is needed once to fetch the Kafka jars"
    log "fetching Kafka $KAFKA_VERSION jars from Maven Central (first run only)…" >&2
    mkdir -p "$STATE_DIR"
    tmp="$STATE_DIR/lib.tmp"
    mvn_log="$STATE_DIR/mvn.log"
    rm -rf "$tmp"
    if ! "$MVN" -q -B -f "$POM" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
        tail -n 40 "$mvn_log" >&2 || true
        rm -rf "$tmp"
        die "maven could not fetch the Kafka jars (full log: $mvn_log)"
    fi
    compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "maven ran but $tmp has no kafka_2.13 jar"
    printf '%s\n' "$sum" >"$tmp/.pom.sha256"
    rm -rf "$LIB_DIR"
    mv "$tmp" "$LIB_DIR"
    rm -f "$mvn_log"
}

# java_run LOG4J_CONF CLASS ARGS...: run a Kafka class in the foreground
java_run() {
    local conf=$1
    shift
    "$JAVA" -Xmx256m -Djava.awt.headless=true -Dlog4j.configuration="file:$conf" \
        -cp "$LIB_DIR/*" "$@"
}

write_props() {
    local cport=$1
    cat >"$PROPS" <<EOF
# Generated by deploy/kafka/kafka.sh -- edits are overwritten on every start.
# Single-node KRaft (combined broker + controller) for development and tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$cport
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$cport
advertised.listeners=PLAINTEXT://$HOST:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA_DIR

# one node: every internal topic has a single replica
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
default.replication.factor=1
min.insync.replicas=1
# few partitions for internal topics: first consumer group / transaction is fast
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1

num.partitions=1
auto.create.topics.enable=false
delete.topic.enable=true
group.initial.rebalance.delay.ms=0
# allow tests to use short consumer session timeouts
group.min.session.timeout.ms=1000

# small and cheap: 2-core machine shared with the tests
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=16777216
log.segment.bytes=67108864
log.index.size.max.bytes=1048576
log.preallocate=false
log.retention.hours=168
log.retention.check.interval.ms=300000
EOF
}

tail_failure_logs() {
    if [[ -s "$SERVER_LOG" ]]; then
        printf -- '---- last 40 lines of %s ----\n' "$SERVER_LOG" >&2
        tail -n 40 "$SERVER_LOG" >&2 || true
    fi
    if [[ -s "$CONSOLE_LOG" ]]; then
        printf -- '---- last 20 lines of %s (stdout/stderr) ----\n' "$CONSOLE_LOG" >&2
        tail -n 20 "$CONSOLE_LOG" >&2 || true
    fi
}

# stop_pid PID: SIGTERM, wait, SIGKILL
stop_pid() {
    local pid=$1 t0 deadline
    t0=$(now)
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "broker (pid $pid) did not exit ${STOP_TIMEOUT} s after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$PID_FILE"
    log "stopped (pid $pid) in $(elapsed_since "$t0") s"
}

# --------------------------------------------------------------- commands ---

cmd_start() {
    local cport pid t0 running_port cluster_id deadline ready=0 jvm_opts=() extra_opts=()
    cport=${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
    valid_port "$PORT" || die "invalid KAFKA_PORT '$PORT'"
    valid_port "$cport" || die "invalid KAFKA_CONTROLLER_PORT '$cport'"
    ((cport != PORT)) || die "KAFKA_CONTROLLER_PORT must differ from KAFKA_PORT ($PORT)"
    is_uint "$START_TIMEOUT" || die "invalid KAFKA_START_TIMEOUT '$START_TIMEOUT'"

    take_lock

    if pid=$(running_pid); then
        running_port=$(configured_port)
        if [[ "$running_port" != "$PORT" ]]; then
            die "already running (pid $pid) from $STATE_DIR on $HOST:$running_port, not on the requested port $PORT; run stop first"
        fi
        log "already running (pid $pid) on $HOST:$PORT"
        return 0
    fi
    rm -f "$PID_FILE"

    local p who
    for p in "$PORT" "$cport"; do
        if port_open "$p"; then
            who=$(who_listens "$p")
            die "port $HOST:$p is already in use by another process${who:+ ($who)}; set KAFKA_PORT / KAFKA_CONTROLLER_PORT or stop it"
        fi
    done

    command -v "$JAVA" >/dev/null 2>&1 || die "java not found (install a JDK >= 11 or set JAVA_HOME)"
    t0=$(now)
    ensure_lib

    mkdir -p "$DATA_DIR"
    write_props "$cport"

    if [[ ! -f "$DATA_DIR/meta.properties" ]]; then
        cluster_id=$(java_run "$LOG4J_TOOLS" kafka.tools.StorageTool random-uuid | tail -n1)
        [[ -n "$cluster_id" ]] || die "kafka.tools.StorageTool random-uuid returned nothing"
        if ! java_run "$LOG4J_TOOLS" kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" \
            >"$STATE_DIR/format.log" 2>&1; then
            cat "$STATE_DIR/format.log" >&2
            die "formatting $DATA_DIR failed"
        fi
        log "formatted $DATA_DIR (cluster id $cluster_id)"
    fi

    # keep the previous run's log, start a fresh one so readiness is read from this run only
    if [[ -f "$SERVER_LOG" ]]; then
        mv -f "$SERVER_LOG" "$SERVER_LOG.prev"
    fi
    : >"$SERVER_LOG"

    read -r -a jvm_opts <<<"$HEAP_OPTS"
    if [[ -n "${KAFKA_OPTS:-}" ]]; then
        read -r -a extra_opts <<<"$KAFKA_OPTS"
    fi

    # setsid: own session, so Ctrl-C / a test runner killing its process group
    # does not take the broker down. The inner shell records its own pid, then
    # execs java (same pid). fd 9 (the lock) must not leak into the broker.
    # shellcheck disable=SC2016  # $$/$0/$@ are expanded by the inner bash
    setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
        "$JAVA" "${jvm_opts[@]}" \
        -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dkafka.logs.dir="$STATE_DIR" -Dlog4j.configuration="file:$LOG4J_SERVER" \
        ${extra_opts[@]+"${extra_opts[@]}"} \
        -cp "$LIB_DIR/*" kafka.Kafka "$PROPS" \
        </dev/null >"$CONSOLE_LOG" 2>&1 9>&- &

    deadline=$((SECONDS + START_TIMEOUT))
    pid=""
    while ((SECONDS < deadline)); do
        if [[ -z "$pid" && -s "$PID_FILE" ]]; then
            pid=$(tr -dc '0-9' <"$PID_FILE")
        fi
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            tail_failure_logs
            rm -f "$PID_FILE"
            die "broker process (pid $pid) exited during startup"
        fi
        if [[ -n "$pid" ]] && grep -q 'Kafka Server started' "$SERVER_LOG" 2>/dev/null &&
            port_open "$PORT"; then
            ready=1
            break
        fi
        sleep 0.2
    done

    if ((ready == 0)); then
        tail_failure_logs
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        fi
        rm -f "$PID_FILE"
        die "broker not ready on $HOST:$PORT after ${START_TIMEOUT} s (killed it)"
    fi
    log "ready on $HOST:$PORT ($KAFKA_VERSION, KRaft) in $(elapsed_since "$t0") s (pid $pid, state $STATE_DIR)"
}

# end_broker stop|kill: SIGTERM (SIGKILL after the stop timeout), or SIGKILL at once
end_broker() {
    local pid
    take_lock
    if ! pid=$(running_pid); then
        rm -f "$PID_FILE"
        log "not running"
        return 0
    fi
    if [[ "$1" == stop ]]; then
        stop_pid "$pid"
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -f "$PID_FILE"
    log "killed (pid $pid)"
}

cmd_status() {
    local pid port
    port=$(configured_port)
    if pid=$(running_pid); then
        if port_open "$port"; then
            printf 'running (pid %s) on %s:%s\n' "$pid" "$HOST" "$port"
            return 0
        fi
        printf 'not ready: pid %s alive but %s:%s not listening\n' "$pid" "$HOST" "$port"
        return 1
    fi
    printf 'stopped\n'
    return 1
}

cmd_reset() {
    local pid
    take_lock
    if pid=$(running_pid); then
        stop_pid "$pid"
    fi
    rm -rf "$DATA_DIR" "$PID_FILE"
    log "wiped $DATA_DIR (kept $LIB_DIR)"
}

cmd_run_class() {
    local extra_opts=()
    (($# > 0)) || { usage; exit 2; }
    ensure_lib
    if [[ -n "${KAFKA_OPTS:-}" ]]; then
        read -r -a extra_opts <<<"$KAFKA_OPTS"
    fi
    exec "$JAVA" -Xmx256m -Djava.awt.headless=true -Dlog4j.configuration="file:$LOG4J_TOOLS" \
        ${extra_opts[@]+"${extra_opts[@]}"} -cp "$LIB_DIR/*" "$@"
}

main() {
    local cmd=${1:-}
    if (($# > 0)); then shift; fi
    case "$cmd" in
        start) cmd_start ;;
        stop | kill) end_broker "$cmd" ;;
        status) cmd_status ;;
        reset) cmd_reset ;;
        run-class) cmd_run_class "$@" ;;
        -h | --help | help) usage; exit 0 ;;
        *) usage; exit 2 ;;
    esac
}

main "$@"
