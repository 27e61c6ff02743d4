#!/usr/bin/env bash
# Builds functions/Dockerfile with podman, as it is (OCI format, no
# --target), with no registry at all, and runs a job end to end in
# containers: `make image-test`. Needs a Debian 12 machine, root, and
# Debian's package archive (for the packages and for debootstrap).
#
#   1. Installs podman, runc, debootstrap and prometheus from Debian.
#   2. Writes its own containers.conf (CONTAINERS_CONF; the system's is left
#      alone): runc (crun fails on hybrid cgroups), cgroupfs, and ulimits no
#      higher than the caller's (raising them needs CAP_SYS_RESOURCE).
#   3. Imports a Debian 12 made by debootstrap as the DEBIAN_IMAGE and
#      DEBIAN_SLIM_IMAGE of the build, and a stand-in for of-watchdog's
#      image (WATCHDOG_IMAGE): the project cannot download of-watchdog, so
#      the stand-in's /fwatchdog only reports that the watchdog mode started
#      it with the right settings.
#   4. Builds the image twice (SERVE_MODE=direct and watchdog) with
#      FETCH_DATA=0; the data is mounted read-only at run time.
#   5. Runs, in containers on the host's network, every one non-root and
#      --read-only, configured by EMNIST_* variables only: memcached (the
#      same base plus Debian's memcached), emnist-setup and two emnist-train
#      containers behind tests/deploy/gateway_standin.py (the gateway's
#      routes, as faas-cli and the functions use them).
#        a. a 2-replica job to train.target_accuracy through the HTTP
#           routes, timed, beside `emnist simulate` in the same image with
#           the same settings;
#        b. a second job in which one train container is stopped (SIGTERM,
#           `podman stop`) mid-job and a replacement resumes its replica;
#        c. Prometheus scrapes every container's /metrics (the stack file's
#           annotations as a static config); a PromQL query returns the
#           job's trained samples, and `promtool check metrics` passes.
#      Every wait has a time limit. Prints the figures at the end.
#
# Variables: EMNIST_DIR (the EMNIST files; default ../shared/data/emnist
# or data/emnist), IMAGE_TEST_DIR (state kept between runs: the debootstrap
# tarball and the ccache of the build; default /var/tmp/emnist-image-test),
# TARGET (accuracy of the timed job, default 0.80).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

state=${IMAGE_TEST_DIR:-/var/tmp/emnist-image-test}
target=${TARGET:-0.80}
data=${EMNIST_DIR:-}
if [[ -z "$data" ]]; then
  if [[ -d ../shared/data/emnist ]]; then data=$(cd ../shared/data/emnist && pwd); else data=$repo/data/emnist; fi
fi
if [[ ! -e "$data/emnist-bymerge-test-images-idx3-ubyte.gz" && ! -e "$data/emnist-bymerge-test-images-idx3-ubyte" ]]; then
  echo "image-test: no EMNIST bymerge test files in $data (set EMNIST_DIR)" >&2
  exit 2
fi
# The standard split of the suite: the files of ../shared hold the test set.
train_slice='test[:100000]'
eval_slice='test[100000:]'

log() { echo "image-test: $*" >&2; }
fail() {
  log "FAILED: $*"
  exit 1
}

# --- 1. packages ------------------------------------------------------------
need=()
for p in podman runc debootstrap prometheus uidmap containernetworking-plugins python3; do
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" == installed ]] || need+=("$p")
done
if ((${#need[@]})); then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian starts the prometheus service on install; this test runs its own.
systemctl disable --now prometheus >/dev/null 2>&1 || true

# --- 2. podman's settings for this machine kind -------------------------------
mkdir -p "$state"
run=$(mktemp -d /tmp/emnist-image-test.XXXXXX)
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
((nofile > 10000)) && nofile=10000
[[ "$nproc" == unlimited ]] || ((nproc <= 1000)) || nproc=1000
[[ "$nproc" == unlimited ]] && nproc=1000
cat >"$run/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF=$run/containers.conf
label=emnist-image-test
pids=()
cleanup() {
  local c
  for c in $(podman ps -aq --filter "label=$label" 2>/dev/null); do
    podman rm -f -t 2 "$c" >/dev/null 2>&1 || true
  done
  for c in "${pids[@]}"; do kill "$c" 2>/dev/null || true; done
  rm -rf "$run"
}
trap cleanup EXIT

# --- 3. the bases -------------------------------------------------------------
base=localhost/emnist-it-debian:12
if ! podman image exists "$base"; then
  if [[ ! -s "$state/debian12.tar" ]]; then
    log "debootstrap bookworm (minbase) into $state"
    rm -rf "$state/rootfs"
    debootstrap --variant=minbase bookworm "$state/rootfs" http://deb.debian.org/debian >"$state/debootstrap.log" 2>&1 ||
      fail "debootstrap: see $state/debootstrap.log"
    # The security and point-release updates, as debian:12 has them.
    printf '%s\n' \
      'deb http://deb.debian.org/debian bookworm main' \
      'deb http://deb.debian.org/debian bookworm-updates main' \
      'deb http://deb.debian.org/debian-security bookworm-security main' \
      >"$state/rootfs/etc/apt/sources.list"
    rm -rf "$state/rootfs/var/lib/apt/lists/"* "$state/rootfs/var/cache/apt/archives/"*.deb
    tar -C "$state/rootfs" -cf "$state/debian12.tar.tmp" .
    mv "$state/debian12.tar.tmp" "$state/debian12.tar"
    rm -rf "$state/rootfs"
  fi
  podman import -q --change 'CMD ["/bin/bash"]' "$state/debian12.tar" "$base" >/dev/null
fi
standin=localhost/emnist-it-fwatchdog:standin
if ! podman image exists "$standin"; then
  mkdir -p "$run/standin"
  cat >"$run/standin/fwatchdog" <<'EOF'
#!/bin/sh
# A stand-in for of-watchdog's binary (scripts/image-test.sh).
echo "fwatchdog stand-in: mode=$mode upstream_url=$upstream_url fprocess=$fprocess"
EOF
  chmod 755 "$run/standin/fwatchdog"
  printf 'FROM %s\nCOPY fwatchdog /fwatchdog\n' "$base" >"$run/standin/Containerfile"
  podman build -q -t "$standin" -f "$run/standin/Containerfile" "$run/standin" >/dev/null
fi
memcached_image=localhost/emnist-it-memcached:12
if ! podman image exists "$memcached_image"; then
  mkdir -p "$run/memcached"
  printf '%s\n' "FROM $base" \
    'RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends memcached && rm -rf /var/lib/apt/lists/*' \
    'USER 65534:65534' 'ENTRYPOINT ["/usr/bin/memcached"]' >"$run/memcached/Containerfile"
  podman build -q -t "$memcached_image" -f "$run/memcached/Containerfile" "$run/memcached" >/dev/null
fi

# --- 4. the image, as it is ---------------------------------------------------
build() { # MODE TAG
  local t0
  t0=$(date +%s)
  podman build -f functions/Dockerfile -t "$2" \
    --build-arg SERVE_MODE="$1" --build-arg FETCH_DATA=0 \
    --build-arg DEBIAN_IMAGE="$base" --build-arg DEBIAN_SLIM_IMAGE="$base" \
    --build-arg WATCHDOG_IMAGE="$standin" \
    . >"$state/build-$1.log" 2>&1 || {
    tail -30 "$state/build-$1.log" >&2
    fail "podman build (SERVE_MODE=$1): see $state/build-$1.log"
  }
  log "built $2 (SERVE_MODE=$1, OCI format, no --target) in $(($(date +%s) - t0)) s"
}
image=localhost/emnist-it:direct
build direct "$image"
build watchdog localhost/emnist-it:watchdog

[[ "$(podman image inspect -f '{{.Config.User}}' "$image")" == 10001:10001 ]] ||
  fail "the image does not run as 10001:10001"
out=$(podman run --rm --read-only --label "$label" localhost/emnist-it:watchdog 2>&1) ||
  fail "the watchdog mode did not start fwatchdog: $out"
[[ "$out" == *"mode=http upstream_url=http://127.0.0.1:8082 fprocess=/usr/local/bin/emnist serve"* ]] ||
  fail "the watchdog mode's settings: $out"
log "watchdog mode: the entrypoint starts /fwatchdog with mode=http and emnist's fprocess"

# --- 5. a job in containers ----------------------------------------------------
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# wait_for SECONDS WHAT COMMAND...: runs COMMAND every 0.2 s until it succeeds.
wait_for() {
  local limit=$1 what=$2 t0
  shift 2
  t0=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    (($(date +%s) - t0 < limit)) || fail "$what: not within $limit s"
    sleep 0.2
  done
}

mc_port=$(free_port)
podman run -d --name emnist-it-memcached --label "$label" --network host --read-only \
  "$memcached_image" -l 127.0.0.1 -p "$mc_port" -U 0 -m 256 >/dev/null
wait_for 20 "memcached on $mc_port" bash -c "exec 3<>/dev/tcp/127.0.0.1/$mc_port"

gw_port=$(free_port)
echo '{}' >"$run/backends.json"
/usr/bin/python3 tests/deploy/gateway_standin.py "$gw_port" "$run/backends.json" 2>"$run/gateway.log" &
pids+=($!)

# function NAME FUNCTION PORT [ENV...]: a function container, EMNIST_* only.
function_container() {
  local name=$1 function=$2 port=$3
  shift 3
  podman run -d --name "$name" --label "$label" --network host --read-only \
    --tmpfs /tmp -v "$data:/data/emnist:ro" \
    -e EMNIST_FUNCTION="$function" \
    -e EMNIST_DATA_TRAIN="$train_slice" -e EMNIST_DATA_EVAL="$eval_slice" \
    -e EMNIST_HTTP_LISTEN="127.0.0.1:$port" \
    -e EMNIST_SYNC_STORE=memcached \
    -e EMNIST_SYNC_SERVERS="[\"127.0.0.1:$mc_port\"]" \
    -e EMNIST_HTTP_GATEWAY_URL="http://127.0.0.1:$gw_port" \
    "$@" "$image" >/dev/null
  wait_for 20 "$name's /_/health" curl -sf "http://127.0.0.1:$port/_/health"
}
setup_port=$(free_port)
train_ports=("$(free_port)" "$(free_port)")
function_container emnist-it-setup setup "$setup_port"
function_container emnist-it-train-0 train "${train_ports[0]}"
function_container emnist-it-train-1 train "${train_ports[1]}"
backends() { # TRAIN_PORT...
  local list="" p
  for p in "$@"; do list+="${list:+,}\"127.0.0.1:$p\""; done
  printf '{"emnist-setup": ["127.0.0.1:%s"], "emnist-train": [%s]}\n' "$setup_port" "$list" >"$run/backends.json.tmp"
  mv "$run/backends.json.tmp" "$run/backends.json"
}
backends "${train_ports[@]}"
[[ "$(podman exec emnist-it-train-0 id -u)" == 10001 ]] || fail "a train container runs as root"

gateway=http://127.0.0.1:$gw_port
status_of() { curl -sf "$gateway/function/emnist-setup/status?job=$1"; }
reached() { [[ "$(status_of "$1" | json 'd["reached"]')" == True ]]; }
settings() { # JOB TARGET MAX_EPOCHS (the data is the containers': deployment keys)
  printf '{"sync": {"job": "%s"}, "train": {"replicas": 2, "target_accuracy": %s, "max_epochs": %s}}' \
    "$1" "$2" "$3"
}

# Prometheus scrapes every function container from the start, the stopped
# one too, as the stack file's annotations ask: scrape and path from
# functions/emnist.yml; the port is theirs in a cluster (8080), each
# container's own here, on the host's network.
annotation() { sed -n "s/^ *prometheus\.io\.$1: *\"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" functions/emnist.yml; }
[[ "$(annotation scrape)" == true ]] || fail "functions/emnist.yml: prometheus.io.scrape is not \"true\""
metrics_path=$(annotation path)
[[ "$metrics_path" == /* ]] || fail "functions/emnist.yml: prometheus.io.path '$metrics_path'"
replacement_port=$(free_port)
targets=""
for p in "$setup_port" "${train_ports[@]}" "$replacement_port"; do
  targets+="${targets:+, }'127.0.0.1:$p'"
done
prom_port=$(free_port)
cat >"$run/prometheus.yml" <<EOF
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: emnist-functions
    metrics_path: $metrics_path
    static_configs: [{targets: [$targets]}]
EOF
promtool check config "$run/prometheus.yml" >/dev/null || fail "promtool check config"
prometheus --config.file="$run/prometheus.yml" --storage.tsdb.path="$run/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$run/prometheus.log" 2>&1 &
pids+=($!)

# a. The timed job, started as `faas-cli invoke emnist-setup` does.
job=it-$(date +%s)
t0=$(date +%s.%N)
answer=$(settings "$job" "$target" 20 | curl -sf -X POST --data-binary @- "$gateway/function/emnist-setup") ||
  fail "emnist-setup did not answer 200"
[[ "$(echo "$answer" | json 'd["job"]')" == "$job" ]] || fail "emnist-setup's answer: $answer"
wait_for 300 "job $job to reach $target" reached "$job"
job_seconds=$(/usr/bin/python3 -c "import time; print(f'{time.time() - $t0:.2f}')")
log "job $job reached $target in ${job_seconds} s through the containers"
sleep 1
status_of "$job" >"$run/status-a.json"

# The peer: `emnist simulate` in the same image, same settings, same store.
sim=$(podman run --rm --label "$label" --network host --read-only -v "$data:/data/emnist:ro" \
  --entrypoint /usr/local/bin/emnist "$image" simulate --config /etc/emnist/config.toml \
  --data /data/emnist --json --set sync.store=memcached --set "sync.servers=[\"127.0.0.1:$mc_port\"]" \
  --set sync.job="sim-$job" --set train.replicas=2 --set "train.target_accuracy=$target" \
  --set train.max_epochs=20 --set "data.train=$train_slice" --set "data.eval=$eval_slice") ||
  fail "emnist simulate in the image"
sim_seconds=$(echo "$sim" | json 'round(d["seconds"], 2)')

# b. SIGTERM mid-job: a longer job; train-1 is stopped and replaced.
job_b=it-stop-$(date +%s)
settings "$job_b" 0.83 40 | curl -sf -X POST --data-binary @- "$gateway/function/emnist-setup" >/dev/null ||
  fail "emnist-setup (job $job_b)"
samples_of() { status_of "$1" | json "(d['workers'][$2] or {}).get('samples', 0)"; }
both_train() { (($(samples_of "$job_b" 0) > 0 && $(samples_of "$job_b" 1) > 0)); }
wait_for 60 "both replicas of $job_b to train" both_train
t_stop=$(date +%s.%N)
podman stop -t 15 emnist-it-train-1 >/dev/null
stop_seconds=$(/usr/bin/python3 -c "import time; print(f'{time.time() - $t_stop:.2f}')")
code=$(podman inspect -f '{{.State.ExitCode}}' emnist-it-train-1)
[[ "$code" == 0 ]] || fail "the stopped train container exited $code (SIGTERM must drain)"
# Which replica train-1 ran (the gateway picks containers, not replicas):
# the prototype's line that a finished or drained call logs.
stopped=$(podman logs emnist-it-train-1 2>&1 | sed -n 's/^Worker ID: \([0-9]*\) .*/\1/p' | tail -1)
[[ -n "$stopped" ]] ||
  fail "train-1 left no trace of its drained call: $(podman logs emnist-it-train-1 2>&1 | tail -5)"
samples_at_stop=$(samples_of "$job_b" "$stopped")
((samples_at_stop > 0)) || fail "replica $stopped saved no progress on SIGTERM"
function_container emnist-it-train-1b train "$replacement_port"
backends "${train_ports[0]}" "$replacement_port"
# The documented route, on the replacement itself (through the gateway any
# train container could take it): the job by name, the stopped replica.
curl -s -o "$run/resumed.json" -X POST "http://127.0.0.1:$replacement_port/?job=$job_b&worker_id=$stopped" </dev/null &
pids+=($!)
resumed() { (($(samples_of "$job_b" "$stopped") > samples_at_stop)); }
wait_for 60 "the replacement to resume replica $stopped past $samples_at_stop samples" resumed
wait_for 400 "job $job_b to reach its target" reached "$job_b"
log "job $job_b: train-1 drained in $stop_seconds s on SIGTERM, replica $stopped at $samples_at_stop samples; its replacement resumed it and the job reached 0.83"
status_of "$job_b" >"$run/status-b.json"

# The status route, as a page polling it sees it (the setup container
# directly; through a gateway add its hop): the median of 200 polls.
for _ in $(seq 200); do
  curl -sf -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$setup_port/status?job=$job_b"
done >"$run/polls.txt"
poll_ms=$(/usr/bin/python3 -c "import statistics; print(f'{1000 * statistics.median(float(l) for l in open(\"$run/polls.txt\")):.2f}')")

# c. Prometheus and promtool over every live container's /metrics.
for p in "$setup_port" "${train_ports[0]}" "$replacement_port"; do
  curl -sf "http://127.0.0.1:$p/metrics" >"$run/metrics-$p.txt"
  promtool check metrics <"$run/metrics-$p.txt" || fail "promtool check metrics on port $p"
done
log "promtool check metrics: clean on the 3 live containers"
# The job label of the metrics becomes exported_job (the scrape job's own
# label is `job`).
query="sum(max by (replica) (max_over_time(emnist_training_samples_total{exported_job=\"$job_b\"}[15m])))"
promql() { curl -sf "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$query" | json 'd["data"]["result"][0]["value"][1]'; }
sleep 3  # two scrapes after the job's end
prom_samples=$(promql)
# The records as they end: the replicas still train, and save, for a
# moment after the evaluation that reached the target, so the counters are
# bounded by the records at that moment (below) and at the end (above).
status_of "$job_b" >"$run/status-b-end.json"
status_samples=$(json "sum(w['samples'] for w in d['workers'])" <"$run/status-b.json")
end_samples=$(json "sum(w['samples'] for w in d['workers'])" <"$run/status-b-end.json")
log "PromQL $query = $prom_samples; the job's records: $status_samples samples when it reached its target, $end_samples at the end"
# Prometheus samples each container once a second: a replica's last
# second before its container stopped may be missing from the scrapes (the
# record has it), and nothing may be counted twice.
[[ "$(/usr/bin/python3 -c "p = float('$prom_samples'); print(0.9 * $status_samples <= p <= 1.001 * $end_samples)")" == True ]] ||
  fail "Prometheus's trained samples ($prom_samples) against the job's records ($status_samples at the target, $end_samples at the end): outside 90% of the first to 100% of the second"

echo
echo "image-test: figures ($(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ))"
printf '  %-58s %s\n' "2-replica job to $target through containers (wall, s)" "$job_seconds" \
  "emnist simulate, same image, settings and store (training s)" "$sim_seconds" \
  "ratio" "$(/usr/bin/python3 -c "print(f'{$job_seconds / $sim_seconds:.2f}x')")" \
  "SIGTERM to exit of a train container mid-job (s)" "$stop_seconds" \
  "GET /status?job=J on emnist-setup, median of 200 (ms)" "$poll_ms"
echo "image-test: passed"
