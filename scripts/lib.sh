# Shared by scripts/test and the bench scripts. Source it; it defines
# functions only. The setup_* functions need TEST_DIR (a directory for the
# services' state) and export what the tests read (TESSERA_TEST_*).

step() { printf '\n==> %s\n' "$*"; }


# address_from_log LOG: waits (up to 10 s) for a JSON log line with an
# "address" field, as `tessera ... serve --log-format json` prints when it
# listens, and prints that address.
address_from_log() {
  local log=$1 address=
  for _ in $(seq 100); do
    address=$(python3 -c 'import json, sys
for line in open(sys.argv[1]):
    try:
        a = json.loads(line).get("address")
    except ValueError:
        continue
    if a:
        print(a)
        break' "$log" 2>/dev/null || true)
    [ -n "$address" ] && { echo "$address"; return 0; }
    sleep 0.1
  done
  cat "$log" >&2
  return 1
}

PIDS=()

CLEANUPS=()

# stop_services: stops what the setup functions started (call it on EXIT).
stop_services() {
  for cmd in "${CLEANUPS[@]}"; do eval "$cmd" >/dev/null 2>&1 || true; done
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# setup_postgres: a database of this run's own, on the machine's PostgreSQL
# (127.0.0.1:5432) when one answers, else on one started here.
setup_postgres() {
  local host=127.0.0.1 port=5432 db="tessera_test_$$_$RANDOM"
  if ! pg_isready -q -h "$host" -p "$port" 2>/dev/null; then
    apt_install postgresql
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    port=$(free_port)
    rm -rf "$TEST_DIR/pg" && mkdir -p "$TEST_DIR/pg" && chown postgres "$TEST_DIR" "$TEST_DIR/pg"
    runuser -u postgres -- "$bin/initdb" -D "$TEST_DIR/pg/data" -A trust -U postgres >/dev/null
    runuser -u postgres -- "$bin/pg_ctl" -D "$TEST_DIR/pg/data" \
      -o "-p $port -k $TEST_DIR/pg -c listen_addresses=127.0.0.1" -l "$TEST_DIR/pg/log" -w start >/dev/null
    CLEANUPS+=("runuser -u postgres -- $bin/pg_ctl -D $TEST_DIR/pg/data -m fast stop")
  fi
  psql -q -h "$host" -p "$port" -U postgres -c "CREATE DATABASE $db" >/dev/null
  CLEANUPS+=("psql -q -h $host -p $port -U postgres -c 'DROP DATABASE IF EXISTS $db WITH (FORCE)'")
  export TESSERA_TEST_POSTGRES_URL="postgres://postgres@$host:$port/$db"
  echo "PostgreSQL database $db on $host:$port"
}

# setup_redis: the machine's Redis (127.0.0.1:6379) when one answers, else one
# started here; this run's keys carry a prefix of their own. The fault suite
# starts (and restarts) a Redis of its own: TESSERA_TEST_REDIS_SERVER names
# the binary, installed if missing.
setup_redis() {
  local port=6379
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  export TESSERA_TEST_REDIS_SERVER
  TESSERA_TEST_REDIS_SERVER=$(command -v redis-server)
  if ! redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
    apt_install redis-server
    port=$(free_port)
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$TEST_DIR" >"$TEST_DIR/redis.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  export TESSERA_TEST_REDIS_URL="redis://127.0.0.1:$port/0" TESSERA_TEST_REDIS_PREFIX="tessera-test-$$-$RANDOM:"
  echo "Redis on 127.0.0.1:$port, key prefix $TESSERA_TEST_REDIS_PREFIX"
}

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "installing ${missing[*]}"
  local sudo=
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

setup_python() {
  local venv=$TEST_DIR/venv
  if ! "$venv/bin/python" -c 'import jwt, cryptography, moto, schemathesis' 2>/dev/null; then
    step "creating a Python virtualenv with PyJWT, moto and schemathesis in $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "PyJWT[crypto]>=2.8" "moto[server]>=5.1" "schemathesis>=4.3,<5"
  fi
  "$venv/bin/python" -c 'import jwt, moto; print("PyJWT", jwt.__version__, "/ moto", moto.__version__)'
  "$venv/bin/schemathesis" --version
  export TESSERA_TEST_PYTHON=$venv/bin/python
  export TESSERA_TEST_SCHEMATHESIS=$venv/bin/schemathesis
}

# Debian's Chromium (headless, driven by playwright-core) for the browser tests.
setup_chromium() {
  apt_install chromium
  export TESSERA_TEST_CHROMIUM=/usr/bin/chromium
  "$TESSERA_TEST_CHROMIUM" --version
}

# The npm packages of the JavaScript client and of the browser tests,
# exactly as their package-lock.json files name them.
setup_node_packages() {
  command -v npm >/dev/null || apt_install nodejs npm
  local dir
  for dir in clients/js tests/browser; do
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  done
}

setup_softhsm() {
  apt_install softhsm2 opensc
  local dir=$TEST_DIR/softhsm module=/usr/lib/softhsm/libsofthsm2.so
  rm -rf "$dir" && mkdir -p "$dir/tokens"
  export SOFTHSM2_CONF=$dir/softhsm2.conf
  printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir" >"$SOFTHSM2_CONF"
  export TESSERA_TEST_PKCS11_MODULE=$module TESSERA_TEST_PKCS11_TOKEN=tessera-test TESSERA_TEST_PKCS11_PIN=123456
  softhsm2-util --init-token --free --label tessera-test --so-pin 87654321 --pin "$TESSERA_TEST_PKCS11_PIN" >/dev/null
  pkcs11-tool --module "$module" --token-label tessera-test --login --pin "$TESSERA_TEST_PKCS11_PIN" \
    --keypairgen --key-type rsa:2048 --id 01 --label eit-signing >/dev/null
  softhsm2-util --import tests/vectors/rfc7515-a2/private_key_pkcs8.pem --token tessera-test \
    --label rfc7515 --id 02 --pin "$TESSERA_TEST_PKCS11_PIN" >/dev/null
  echo "SoftHSM2 token tessera-test in $dir"
}

setup_moto() {
  local port
  port=$(free_port)
  "$TEST_DIR/venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$TEST_DIR/moto.log" 2>&1 &
  PIDS+=($!)
  export TESSERA_TEST_KMS_ENDPOINT=http://127.0.0.1:$port
  local ready=
  for _ in $(seq 150); do
    if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
      "$TESSERA_TEST_KMS_ENDPOINT/moto-api/" 2>/dev/null; then
      ready=1
      break
    fi
    sleep 0.2
  done
  [ -n "$ready" ] || { cat "$TEST_DIR/moto.log"; echo "moto did not start" >&2; exit 1; }
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
  echo "moto KMS at $TESSERA_TEST_KMS_ENDPOINT"
}


# setup_cargo_fuzz: cargo-fuzz on the PATH (installed from crates.io when
# missing).
setup_cargo_fuzz() {
  if ! cargo fuzz --version >/dev/null 2>&1; then
    step "installing cargo-fuzz"
    cargo install cargo-fuzz --locked --version 0.13.2 --quiet
  fi
}

# setup_cargo_modules: cargo-modules on the PATH (installed from crates.io
# when missing; 0.27.0 is the newest that builds with this toolchain).
setup_cargo_modules() {
  if [ "$(cargo modules --version 2>/dev/null)" != "cargo-modules 0.27.0" ]; then
    step "installing cargo-modules (a few minutes, once)"
    cargo install cargo-modules --locked --version 0.27.0 --quiet
  fi
}

# check_module_cycles: no import cycle between the modules of any crate of
# the workspace (each library, and the CLI's binary): cargo-modules prints
# each one's module graph, scripts/module-cycles.py looks for cycles.
check_module_cycles() {
  local crate graph
  local filters=(--all-features --no-fns --no-types --no-traits --no-externs --no-sysroot --layout dot)
  for crate in tessera-claims tessera-api tessera-signer tessera-authority tessera-identity \
    tessera-client tessera-tests tessera-examples; do
    graph=$(cargo modules dependencies --lib -p "$crate" "${filters[@]}" 2>/dev/null) || {
      cargo modules dependencies --lib -p "$crate" "${filters[@]}" >/dev/null
      return 1
    }
    echo -n "$crate: "
    python3 scripts/module-cycles.py <<<"$graph"
  done
  graph=$(cargo modules dependencies --bin tessera -p tessera-cli "${filters[@]}" 2>/dev/null)
  echo -n "tessera-cli (tessera): "
  python3 scripts/module-cycles.py <<<"$graph"
}

# run_fuzz_targets SECS: every target of fuzz/ for SECS seconds from its
# seed corpus in fuzz/corpus/<target>, new inputs kept in
# target/fuzz-corpus/<target>. Stops at the first crash.
run_fuzz_targets() {
  local secs=$1 target
  for target in $(cargo fuzz list --fuzz-dir fuzz); do
    mkdir -p "target/fuzz-corpus/$target"
    echo "fuzzing $target for $secs s"
    local log="target/fuzz-corpus/$target.log"
    if ! RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz --sanitizer none --target-dir target/fuzz \
      "$target" "target/fuzz-corpus/$target" "fuzz/corpus/$target" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
      tail -n 80 "$log"
      echo "fuzz target $target failed (its log: $log)" >&2
      return 1
    fi
    grep -E "^(Done|stat::number_of_executed_units)" "$log" || true
  done
}
