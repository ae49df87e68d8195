#!/bin/bash
# What 10,000 /metrics scrapes during fine-tuning cost the run: fine-tuning
# tokens/s of stage1 on stories260K with the /metrics server on but idle,
# against the same run while a separate process scrapes it SCRAPES times over
# loopback, paced to spread them over the idle run's fine-tuning time. Runs the
# pair ROUNDS times, interleaved, so that other load on the machine hits both
# alike. A benchmark figure, not a test: on a shared machine the run-to-run
# noise can be larger than the effect; compare the idle runs with each other.
#
#   bench/telemetry/metrics_scrape_load.sh BUILD_DIR [SCRAPES=10000] [ROUNDS=2] [STEPS=300]
#
# Prints one line per run (fine-tuning tokens/s, the whole process's user+sys
# CPU seconds from /usr/bin/time) and, per round, the relative throughput
# change and the extra CPU time of the scraped run: the server's cost, less
# noisy than wall-clock throughput on a shared machine.
set -euo pipefail
build=${1:?usage: metrics_scrape_load.sh BUILD_DIR [SCRAPES] [ROUNDS] [STEPS]}
scrapes=${2:-10000}
rounds=${3:-2}
steps=${4:-300}
here=$(cd "$(dirname "$0")" && pwd)
export SEEDFORGE_DATA=${SEEDFORGE_DATA:-$here/../../../shared/data}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
stage1=$build/tools/stage1/stage1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/c.json" <<JSON
{
  "bitnet": {"lr": 0.002, "max_steps": $steps, "batch_size": 8, "grad_accum": 1, "seq_len": 256, "seed": 7},
  "seedlm": {"seed_candidates": 512},
  "eval": {"max_docs": 12},
  "hardware": {"threads": 1}
}
JSON
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The scraper: waits for fine-tuning to start, then GETs /metrics at RATE per
# second until COUNT answers or the run ends; prints answers and failures, and
# the CPU time of the server thread (named sf-metrics) and of the whole
# stage1 process over the scraping window.
cat > "$work/scrape.py" <<'PY'
import socket, sys, time
import glob, os
port, count, rate, log, pid = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
tick = os.sysconf("SC_CLK_TCK")
def cpu(stat):  # utime + stime of a /proc stat file, seconds
    fields = open(stat).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick
def server_stat():
    for task in glob.glob(f"/proc/{pid}/task/*"):
        if open(f"{task}/comm").read().strip() == "sf-metrics": return f"{task}/stat"
deadline = time.time() + 600
while "stage bitnet conversion and fine-tuning: start" not in open(log, errors="replace").read():
    if time.time() > deadline: sys.exit("fine-tuning never started")
    time.sleep(0.01)
ok = failed = 0
server = server_stat()
server_cpu0, process_cpu0 = cpu(server), cpu(f"/proc/{pid}/stat")
server_cpu1, process_cpu1, answered1 = server_cpu0, process_cpu0, 0
start = time.monotonic()
request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
while ok + failed < count:
    wait = start + (ok + failed) / rate - time.monotonic()
    if wait > 0: time.sleep(wait)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(request)
            data = b""
            while chunk := s.recv(65536): data += chunk
        if data.startswith(b"HTTP/1.1 200"): ok += 1
        else: failed += 1
        if ok % 100 == 0:  # the last CPU reading before the run may end
            server_cpu1, process_cpu1, answered1 = cpu(server), cpu(f"/proc/{pid}/stat"), ok
    except OSError:
        if "stage encoding: start" in open(log, errors="replace").read(): break  # fine-tuning is over
        failed += 1
window = time.monotonic() - start
try:
    server_cpu1, process_cpu1, answered1 = cpu(server), cpu(f"/proc/{pid}/stat"), ok
except OSError:
    pass  # the run has ended: keep the last reading
server_cpu, process_cpu = server_cpu1 - server_cpu0, process_cpu1 - process_cpu0
print(f"scrapes answered {ok}, failed {failed}, in {window:.1f} s; server thread {server_cpu:.2f} s CPU "
      f"({1e6 * server_cpu / max(answered1, 1):.0f} us per scrape), {100 * server_cpu / max(process_cpu, 1e-9):.1f} % "
      f"of the process's {process_cpu:.1f} s CPU over those scrapes")
PY

run() {  # run NAME [SCRAPE_RATE]: one stage1 run; prints its fine-tuning figures
  local name=$1 rate=${2:-0} out=$work/$1
  mkdir -p "$out"
  /usr/bin/time -f "%U %S" -o "$out/time" \
    "$stage1" --input "$SEEDFORGE_DATA/models/stories260K/stories260K.bin" --output "$out/m.stage1.pt" \
    --config "$work/c.json" --metrics-port "$port" > "$out/log" 2>&1 &
  local pid=$!
  local scraped=""
  if [[ $rate != 0 ]]; then
    local child=""
    while [[ -z $child ]]; do child=$(pgrep -P "$pid" || true); sleep 0.01; done  # stage1 under /usr/bin/time
    scraped=$(/usr/bin/python3 "$work/scrape.py" "$port" "$scrapes" "$rate" "$out/log" "$child")
  fi
  wait "$pid" || true  # exit 3: the short fine-tuning misses the retention target
  /usr/bin/python3 - "$out/m.stage1.pt.report.json" "$name" "$out/time" "$scraped" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["training"]
cpu = sum(float(x) for x in open(sys.argv[3]).read().split()[-2:])
print(f"{sys.argv[2]:>8}: {t['tokens_per_second']:9.0f} tokens/s over {t['seconds']:6.1f} s fine-tuning, "
      f"{cpu:6.2f} s CPU  {sys.argv[4]}")
PY
}

echo "stage1 $stage1, $steps steps, $scrapes scrapes per loaded run, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
  idle=$(run idle)
  echo "$idle"
  seconds=$(echo "$idle" | awk '{print $5}')
  idle_cpu=$(echo "$idle" | awk '{print $8}')
  idle_tps=$(echo "$idle" | awk '{print $2}')
  rate=$(/usr/bin/python3 -c "print($scrapes / max($seconds * 0.95, 1))")
  loaded=$(run scraped "$rate")
  echo "$loaded"
  loaded_tps=$(echo "$loaded" | awk '{print $2}')
  loaded_cpu=$(echo "$loaded" | awk '{print $8}')
  /usr/bin/python3 -c "print(f'round $round: {$rate:.0f} scrapes/s, throughput change {100 * ($loaded_tps / $idle_tps - 1):+.2f} %, '
                             f'CPU {$loaded_cpu - $idle_cpu:+.2f} s ({1e6 * ($loaded_cpu - $idle_cpu) / $scrapes:+.0f} us per scrape)')"
done
