#!/usr/bin/env bash
# The local shelfstream platform: Apache Kafka (KRaft) and FerretDB (SQLite,
# or PostgreSQL with SHELF_STORE_BACKEND=postgresql).
#
#   infra/platform.sh up     [kafka|postgres|ferretdb] [--brokers 3]   install what is missing, start what is not running
#   infra/platform.sh down   [kafka|postgres|ferretdb] [--brokers 3]   stop (SIGTERM, then SIGKILL after a grace period)
#   infra/platform.sh status [--brokers 3]      what runs where
#   infra/platform.sh install                   only fetch/build the binaries and jars
#
# Kafka listens for plaintext clients on $SHELF_KAFKA_PORT (9092) and for
# SASL_SSL clients (SCRAM-SHA-512, a certificate of the platform's own CA)
# on the port two above it (9094); `status` prints the client settings.
# --brokers 3 (or SHELF_KAFKA_BROKERS=3) runs a cluster of three nodes
# instead, with state under $SHELF_KAFKA_CLUSTER_DIR (.local/kafka-cluster):
# node i listens on $SHELF_KAFKA_PORT + 3(i-1), its controller one above and
# its SASL_SSL listener two above. Every topic gets 3 replicas, 2 in sync.
#
# All state (jars, binaries, data, logs, pid files) lives under $SHELF_HOME
# (default .local/ in the repository), so `rm -rf .local` is a factory reset.
# Data survives down + up.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHELF_HOME=${SHELF_HOME:-$ROOT/.local}
HOST=${SHELF_HOST:-127.0.0.1}
KAFKA_PORT=${SHELF_KAFKA_PORT:-9092}
KAFKA_BROKERS=${SHELF_KAFKA_BROKERS:-1}
KAFKA_SCRAM_USER=${SHELF_KAFKA_SCRAM_USER:-shelf}
KAFKA_HEAP=${SHELF_KAFKA_HEAP:-512m}
MONGO_PORT=${SHELF_MONGO_PORT:-27017}
# SQLite settings of every FerretDB database (see infra/ferretdb/README.md).
FERRET_PRAGMAS=${SHELF_FERRETDB_PRAGMAS:-synchronous(NORMAL) temp_store(memory) cache_size(-65536) mmap_size(4294967296)}
# Go's collector took a sixth of FerretDB's CPU under the sink's load at the
# default of 100; its heap stays small, so trade some memory for that CPU.
FERRET_GOGC=${SHELF_FERRETDB_GOGC:-400}
# ... and bounded: near this limit the collector runs as often as it must,
# so a query that decodes a whole large collection cannot take the machine.
FERRET_GOMEMLIMIT=${SHELF_FERRETDB_GOMEMLIMIT:-2GiB}
# FerretDB's storage: sqlite (default) or postgresql (a cluster of our own
# under $SHELF_HOME/postgres; see infra/ferretdb/README.md for the figures).
STORE_BACKEND=${SHELF_STORE_BACKEND:-sqlite}
PG_PORT=${SHELF_POSTGRES_PORT:-5433}
START_TIMEOUT=${SHELF_START_TIMEOUT:-90}

KAFKA_DIR=$SHELF_HOME/kafka
KAFKA_CLUSTER_DIR=${SHELF_KAFKA_CLUSTER_DIR:-$SHELF_HOME/kafka-cluster}
# The platform's CA, the brokers' certificate and the SCRAM user's password.
KAFKA_TLS_DIR=$KAFKA_DIR/tls
FERRET_DIR=$SHELF_HOME/ferretdb
PG_DIR=$SHELF_HOME/postgres
RUN_DIR=$SHELF_HOME/run
BIN_DIR=$SHELF_HOME/bin

log() { printf '[platform] %s\n' "$*" >&2; }
die() { printf '[platform] error: %s\n' "$*" >&2; exit 1; }

# --- install ---------------------------------------------------------------

install_kafka() {
  local stamp=$KAFKA_DIR/libs/.pom.sha256
  local want
  want=$(sha256sum "$ROOT/infra/kafka/pom.xml" | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then return; fi
  command -v mvn >/dev/null || die "mvn (Maven) is missing: apt-get install maven"
  log "fetching Kafka jars from Maven Central (infra/kafka/pom.xml; about 1 min)"
  rm -rf "$KAFKA_DIR/libs"
  mkdir -p "$KAFKA_DIR/libs"
  # Its output (colour codes even with -q) only when it fails.
  local out
  out=$(mktemp)
  if ! mvn -q -B -Dstyle.color=never -f "$ROOT/infra/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_DIR/libs" >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    die "Maven could not fetch the Kafka jars (above)"
  fi
  rm -f "$out"
  echo "$want" >"$stamp"
}

# FerretDB v1.24.2's SQLite backend finds documents by `_id` with a full
# collection scan (0.6 s per statement at 50,000 documents), for two reasons
# that infra/ferretdb/sqlite-id-lookup.patch fixes in a vendored copy:
#  - the unique `_id` index is on `_ferretdb_sjson->"_id"` but lookups use
#    `_ferretdb_sjson->'$._id'`, which SQLite cannot match to the index;
#  - lookups use `_id` only when it is the filter's single key and a string
#    or ObjectID, so an update guarded by a second condition, a find by
#    `_id: {$in: [...]}` or by an integer `_id` (category ids) scans.
# The patch changes no result: FerretDB applies the whole filter to what the
# lookup returns.
install_ferretdb() {
  local bin=$BIN_DIR/ferretdb stamp=$BIN_DIR/.ferretdb.sha256 want build=$SHELF_HOME/build/ferretdb
  want=$(cat "$ROOT"/infra/ferretdb/{go.mod,go.sum,main.go} "$ROOT"/infra/ferretdb/*.patch | sha256sum | cut -d' ' -f1)
  if [[ -x $bin && -f $stamp && $(cat "$stamp") == "$want" ]]; then return; fi
  command -v go >/dev/null || die "go is missing: install Go 1.24 or newer"
  command -v patch >/dev/null || die "patch is missing: run infra/setup.sh"
  log "building FerretDB from the Go module proxy (infra/ferretdb)"
  mkdir -p "$BIN_DIR"
  rm -rf "$build" && mkdir -p "$build"
  cp "$ROOT"/infra/ferretdb/{go.mod,go.sum,main.go} "$build"/
  (cd "$build" && go mod vendor) || die "go mod vendor failed"
  local p
  for p in "$ROOT"/infra/ferretdb/*.patch; do
    patch -s -p1 -d "$build/vendor/github.com/FerretDB/FerretDB" <"$p" \
      || die "infra/ferretdb/$(basename "$p") does not apply to this FerretDB version"
  done
  (cd "$build" && go build -mod=vendor -trimpath -o "$bin" .) || die "building FerretDB failed"
  echo "$want" >"$stamp"
}

install_all() {
  install_kafka
  install_ferretdb
}

# --- process helpers -------------------------------------------------------

pid_file() { # name -> its pid file (a cluster's nodes keep theirs with its state)
  case "$1" in
    kafka-node*) echo "$KAFKA_CLUSTER_DIR/run/$1.pid" ;;
    *) echo "$RUN_DIR/$1.pid" ;;
  esac
}

# alive, exiting (killed and still ending: a JVM unmaps its heap before it
# closes its ports and files) or gone (no such process, or a zombie that
# nobody reaped).
proc_state() { # pid
  local stat state flags
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo gone; return; }
  # The fields after the command name, which may hold spaces: state is
  # the first, flags the seventh (PF_EXITING is 0x4).
  read -r state _ _ _ _ _ flags _ <<<"${stat##*) }"
  if [[ $state == [ZX] ]]; then
    echo gone
  elif ((flags & 0x4)); then
    echo exiting
  else
    echo alive
  fi
}

pid_of() { # name -> pid if running
  local f pid i
  f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  pid=$(cat "$f")
  # Right after a kill -9 the process may still be ending: `up` then used
  # to report it running and see it exit a moment later. Wait it out.
  for ((i = 0; i < 300; i++)); do
    case $(proc_state "$pid") in
      alive) echo "$pid"; return 0 ;;
      gone) rm -f "$f"; return 1 ;;
      exiting) sleep 0.1 ;;
    esac
  done
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

wait_port() { # name port logfile
  local name=$1 port=$2 logfile=$3 i
  for ((i = 0; i < START_TIMEOUT * 5; i++)); do
    port_open "$port" && return 0
    pid_of "$name" >/dev/null || { tail -n 30 "$logfile" >&2 || true; die "$name exited during start; log: $logfile"; }
    sleep 0.2
  done
  tail -n 30 "$logfile" >&2 || true
  die "$name did not open $HOST:$port within ${START_TIMEOUT}s; log: $logfile"
}

start_detached() { # name logfile cmd...
  local name=$1 logfile=$2
  shift 2
  mkdir -p "$(dirname "$(pid_file "$name")")" "$(dirname "$logfile")"
  # setsid: the service must outlive the shell (and the make) that started it.
  setsid "$@" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$(pid_file "$name")"
}

stop() { # name
  local name=$1 pid i
  pid=$(pid_of "$name") || { log "$name is not running"; return 0; }
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$(pid_file "$name")"; return 0; }
    sleep 0.1
  done
  log "$name did not stop within 30s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$(pid_file "$name")"
}

# --- services --------------------------------------------------------------

java_cmd() {
  command -v java >/dev/null || die "java is missing: apt-get install openjdk-17-jre-headless"
  echo java
}

# The CA and the brokers' certificate (for $HOST), and the SCRAM password:
# made once with openssl, kept under $KAFKA_TLS_DIR.
kafka_tls_material() {
  local dir=$KAFKA_TLS_DIR san
  [[ -f $dir/broker.keystore.pem && $(cat "$dir/host" 2>/dev/null) == "$HOST" ]] && return
  command -v openssl >/dev/null || die "openssl is missing: run infra/setup.sh"
  log "making the local CA and the brokers' certificate ($dir)"
  rm -rf "$dir" && mkdir -p "$dir" && chmod 700 "$dir"
  if [[ $HOST =~ ^[0-9.]+$ ]]; then san="IP:$HOST,DNS:localhost"; else san="DNS:$HOST,DNS:localhost"; fi
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
      -subj "/CN=shelfstream local CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj "/CN=$HOST" 2>/dev/null
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out broker.pem -days 3650 \
      -extfile <(printf 'subjectAltName=%s\n' "$san") 2>/dev/null
    # Kafka's PEM keystore: the PKCS#8 key, then the certificate.
    cat broker.key broker.pem >broker.keystore.pem
    openssl rand -hex 16 >scram-password
    chmod 600 ./*.key broker.keystore.pem scram-password
    echo "$HOST" >host
  ) || die "making the TLS material failed"
}

kafka_jvm() { # log dir -> the JVM's arguments
  printf '%s\n' -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$1" -Dlog4j2.configurationFile="$ROOT/infra/kafka/log4j2.properties" \
    -cp "$KAFKA_DIR/libs/*"
}

# Node i of $KAFKA_BROKERS: name, state directory and ports.
node_name() { if ((KAFKA_BROKERS == 1)); then echo kafka; else echo "kafka-node$1"; fi; }
node_dir() { if ((KAFKA_BROKERS == 1)); then echo "$KAFKA_DIR"; else echo "$KAFKA_CLUSTER_DIR/node$1"; fi; }
node_port() { echo $((KAFKA_PORT + 3 * ($1 - 1))); }

kafka_voters() {
  local i voters=""
  for ((i = 1; i <= KAFKA_BROKERS; i++)); do voters+="${voters:+,}$i@$HOST:$(($(node_port "$i") + 1))"; done
  echo "$voters"
}

kafka_node_start() { # i
  local i=$1 name dir port java props data replicas=1 min_isr=1
  name=$(node_name "$i") dir=$(node_dir "$i") port=$(node_port "$i")
  if pid_of "$name" >/dev/null; then log "$name already running on $HOST:$port"; return; fi
  port_open "$port" && die "port $HOST:$port is taken by another process; set SHELF_KAFKA_PORT"
  ((KAFKA_BROKERS == 1)) || { replicas=3 min_isr=2; }
  java=$(java_cmd)
  props=$dir/server.properties data=$dir/data
  mkdir -p "$dir/logs"
  sed -e "s|@HOST@|$HOST|g" -e "s|@PORT@|$port|g" \
    -e "s|@CONTROLLER_PORT@|$((port + 1))|g" -e "s|@SECURE_PORT@|$((port + 2))|g" \
    -e "s|@NODE_ID@|$i|g" -e "s|@VOTERS@|$(kafka_voters)|g" -e "s|@DATA@|$data|g" \
    -e "s|@TLS_DIR@|$KAFKA_TLS_DIR|g" -e "s|@REPLICAS@|$replicas|g" -e "s|@MIN_ISR@|$min_isr|g" \
    "$ROOT/infra/kafka/server.properties.in" >"$props"
  local jvm
  mapfile -t jvm < <(kafka_jvm "$dir/logs")
  if [[ ! -f $data/meta.properties ]]; then
    log "formatting $name's storage (first start)"
    local id_file=$(dirname "$dir")/cluster-id
    ((KAFKA_BROKERS == 1)) && id_file=$dir/cluster-id
    [[ -s $id_file ]] || "$java" "${jvm[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1 >"$id_file"
    "$java" "${jvm[@]}" kafka.tools.StorageTool format -t "$(cat "$id_file")" -c "$props" >>"$dir/logs/format.log" 2>&1 \
      || { tail -n 20 "$dir/logs/format.log" >&2; die "formatting $name's storage failed"; }
  fi
  log "starting $name on $HOST:$port (SASL_SSL on $((port + 2)))"
  start_detached "$name" "$dir/logs/stdout.log" "$java" "${jvm[@]}" kafka.Kafka "$props"
}

# The SCRAM user of the SASL_SSL listeners, made with Kafka's own tool.
kafka_scram_user() {
  local java jvm password
  java=$(java_cmd)
  mapfile -t jvm < <(kafka_jvm "$(node_dir 1)/logs")
  password=$(cat "$KAFKA_TLS_DIR/scram-password")
  "$java" "${jvm[@]}" org.apache.kafka.tools.ConfigCommand --bootstrap-server "$HOST:$KAFKA_PORT" \
    --alter --entity-type users --entity-name "$KAFKA_SCRAM_USER" \
    --add-config "SCRAM-SHA-512=[iterations=4096,password=$password]" >>"$(node_dir 1)/logs/scram.log" 2>&1 \
    || { tail -n 20 "$(node_dir 1)/logs/scram.log" >&2; die "creating the SCRAM user $KAFKA_SCRAM_USER failed"; }
}

kafka_start() {
  install_kafka
  kafka_tls_material
  local i
  for ((i = 1; i <= KAFKA_BROKERS; i++)); do kafka_node_start "$i"; done
  for ((i = 1; i <= KAFKA_BROKERS; i++)); do
    wait_port "$(node_name "$i")" "$(node_port "$i")" "$(node_dir "$i")/logs/server.log"
    wait_port "$(node_name "$i")" "$(($(node_port "$i") + 2))" "$(node_dir "$i")/logs/server.log"
  done
  kafka_scram_user
}

# All nodes at once: the last of a cluster to stop one by one would wait in
# vain for a quorum to hand its partitions to.
kafka_stop() {
  local i
  for ((i = KAFKA_BROKERS; i >= 1; i--)); do stop "$(node_name "$i")" & done
  wait
}

ferretdb_start() {
  if pid_of ferretdb >/dev/null; then log "ferretdb already running on $HOST:$MONGO_PORT"; return; fi
  install_ferretdb
  port_open "$MONGO_PORT" && die "port $HOST:$MONGO_PORT is taken by another process; set SHELF_MONGO_PORT"
  mkdir -p "$FERRET_DIR/data" "$FERRET_DIR/logs"
  local query="" pragma backend
  for pragma in $FERRET_PRAGMAS; do query+="${query:+&}_pragma=$pragma"; done
  case "$STORE_BACKEND" in
    sqlite) backend=(--handler=sqlite --sqlite-url="file:$FERRET_DIR/data/?$query") ;;
    postgresql)
      pid_of postgres >/dev/null || die "postgres is not running (infra/platform.sh up postgres)"
      backend=(--handler=postgresql --postgresql-url="postgres://postgres@$HOST:$PG_PORT/ferretdb") ;;
    *) die "SHELF_STORE_BACKEND must be sqlite or postgresql, not '$STORE_BACKEND'" ;;
  esac
  log "starting ferretdb ($STORE_BACKEND) on $HOST:$MONGO_PORT"
  GOGC=$FERRET_GOGC GOMEMLIMIT=$FERRET_GOMEMLIMIT start_detached ferretdb "$FERRET_DIR/logs/ferretdb.log" "$BIN_DIR/ferretdb" \
    --listen-addr="$HOST:$MONGO_PORT" "${backend[@]}" --log-level=warn
  wait_port ferretdb "$MONGO_PORT" "$FERRET_DIR/logs/ferretdb.log"
}

# PostgreSQL for FerretDB's postgresql backend: Debian's server binaries, a
# cluster of our own (trust on loopback, its own port) run as the `postgres`
# user when we are root (the server refuses to run as root). fsync=off: a
# commit survives a crash of the server, not of the machine, as SQLite's
# synchronous(NORMAL) does for the other backend.
pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n $dir ]] || die "PostgreSQL is missing: run SHELF_STORE_BACKEND=postgresql infra/setup.sh"
  echo "$dir"
}

as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

postgres_start() {
  if pid_of postgres >/dev/null; then log "postgres already running on $HOST:$PG_PORT"; return; fi
  local bin
  bin=$(pg_bin)
  mkdir -p "$PG_DIR/logs" "$PG_DIR/socket" "$RUN_DIR"
  [[ $(id -u) -ne 0 ]] || chown -R postgres "$PG_DIR"
  if [[ ! -f $PG_DIR/data/PG_VERSION ]]; then
    log "creating the PostgreSQL cluster (first start)"
    as_postgres "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >>"$PG_DIR/logs/initdb.log" 2>&1 \
      || { tail -n 20 "$PG_DIR/logs/initdb.log" >&2; die "initdb failed"; }
  fi
  log "starting postgres on $HOST:$PG_PORT"
  as_postgres "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/logs/postgres.log" -w -t "$START_TIMEOUT" start \
    -o "-p $PG_PORT -c listen_addresses=$HOST -k $PG_DIR/socket -c fsync=off -c shared_buffers=256MB" >/dev/null \
    || { tail -n 20 "$PG_DIR/logs/postgres.log" >&2; die "postgres did not start"; }
  head -n 1 "$PG_DIR/data/postmaster.pid" >"$RUN_DIR/postgres.pid"
  as_postgres "$bin/psql" -h "$HOST" -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'ferretdb'" \
    | grep -q 1 || as_postgres "$bin/createdb" -h "$HOST" -p "$PG_PORT" -U postgres ferretdb
}

services() { # [name] -> names, in start order
  case "${1:-all}" in
    all) if [[ $STORE_BACKEND == postgresql ]]; then echo kafka postgres ferretdb; else echo kafka ferretdb; fi ;;
    kafka | postgres | ferretdb) echo "$1" ;;
    *) die "unknown service '$1' (kafka, postgres, ferretdb)" ;;
  esac
}

status() {
  local name pid i kafka_names="" bootstrap="" secure=""
  for ((i = 1; i <= KAFKA_BROKERS; i++)); do
    kafka_names+=" $(node_name "$i")"
    bootstrap+="${bootstrap:+,}$HOST:$(node_port "$i")"
    secure+="${secure:+,}$HOST:$(($(node_port "$i") + 2))"
  done
  for name in $kafka_names postgres ferretdb; do
    # PostgreSQL only where it is used or left running.
    [[ $name != postgres || $STORE_BACKEND == postgresql ]] || pid_of postgres >/dev/null || continue
    if pid=$(pid_of "$name"); then
      printf '%-11s running  pid %s\n' "$name" "$pid"
    else
      printf '%-11s stopped\n' "$name"
    fi
  done
  printf 'kafka       %s\n' "$bootstrap"
  printf 'kafka TLS   --kafka %s --kafka-security-protocol sasl_ssl --kafka-sasl-mechanism SCRAM-SHA-512\n' "$secure"
  printf '            --kafka-sasl-username %s --kafka-sasl-password-file %s --kafka-ca %s\n' \
    "$KAFKA_SCRAM_USER" "$KAFKA_TLS_DIR/scram-password" "$KAFKA_TLS_DIR/ca.pem"
  printf 'mongodb     mongodb://%s:%s/\nstate       %s\n' "$HOST" "$MONGO_PORT" "$SHELF_HOME"
}

cmd=${1:-status}
shift || true
service=""
while (($#)); do
  case "$1" in
    --brokers) KAFKA_BROKERS=${2:?--brokers needs a number}; shift 2 ;;
    --brokers=*) KAFKA_BROKERS=${1#--brokers=}; shift ;;
    *) service=$1; shift ;;
  esac
done
[[ $KAFKA_BROKERS == 1 || $KAFKA_BROKERS == 3 ]] || die "--brokers must be 1 or 3, not '$KAFKA_BROKERS'"
set -- $service
case "$cmd" in
  install) install_all ;;
  up)
    for s in $(services "${1:-all}"); do "${s}_start"; done
    status
    ;;
  down)
    # Reverse order: FerretDB before the PostgreSQL it writes to; a
    # PostgreSQL left from a postgresql-backed run stops too.
    names=$(services "${1:-all}")
    if [[ ${1:-all} == all ]] && pid_of postgres >/dev/null; then names="$names postgres"; fi
    for s in $(tr ' ' '\n' <<<"$names" | awk '!seen[$0]++' | tac); do
      if [[ $s == kafka ]]; then kafka_stop; else stop "$s"; fi
    done
    ;;
  status) status ;;
  *) die "usage: $0 up|down [kafka|postgres|ferretdb] | status | install" ;;
esac
