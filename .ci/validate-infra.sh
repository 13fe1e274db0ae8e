#!/usr/bin/env bash
# Offline validation of the deployment files (called by .ci/run after `npm ci`; runs alone too):
#   1. Kubernetes: every kustomization under infra/k8s rendered by `kubectl kustomize`, each object
#      validated by the kubernetes-models / @kubernetes-models/keda schemas, then the project's own
#      checks (infra/tools/check-deploy.ts): each service's environment through packages/config,
#      KEDA list names from packages/queue's keys, grace periods against the job timeouts, and
#      .env.example / docker-compose.yml against the variables the code reads. The Grafana
#      dashboard's queries against the metrics the code defines (infra/tools/check-dashboard.ts).
#   2. docker-compose.yml: `docker-compose config` (Debian's docker-compose; no engine needed) for
#      every profile.
#   3. Prometheus: `promtool check config` on infra/prometheus/*.yml and `promtool check rules` on the
#      Grafana dashboard's queries (promtool is taken from Debian's prometheus package, unpacked only).
#   4. The image's build step: `npm run build`, then the api, the workers and the simulator started
#      from dist/ as the image starts them (needs Redis at REDIS_URL; SKIP_BUILD_SMOKE=1 skips it).
# Exits non-zero on the first failed step.
set -euo pipefail
cd "$(dirname "$0")/.."
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

say() { echo "infra: $*"; }
apt_updated=0
apt_install() {
  [ "$apt_updated" = 1 ] || { apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

say "1/4 manifests, settings, dashboard"
if ! kubectl kustomize --help >/dev/null 2>&1; then
  say "installing kubectl"
  apt_install kubectl
fi
node --import tsx --conditions=@gateway/source infra/tools/check-deploy.ts
node --import tsx infra/tools/check-dashboard.ts --rules-out "$tmp/dashboard-rules.yml"

say "2/4 docker-compose config"
if ! command -v docker-compose >/dev/null 2>&1; then
  say "installing Debian's docker-compose"
  apt_install docker-compose
fi
# .env.example, not a developer's .env, so the check sees what a fresh checkout gives.
for profiles in "" "sim" "vllm" "ollama" "monitoring" "pool"; do
  args=(--env-file .env.example -f docker-compose.yml)
  [ -n "$profiles" ] && args+=(--profile "$profiles")
  docker-compose "${args[@]}" config -q
  echo "  profile ${profiles:-(none)}: ok"
done

say "3/4 promtool"
promtool_bin=$(command -v promtool || true)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/roleplay-gateway-ci"
if [ -z "$promtool_bin" ] && [ -x "$cache/promtool" ]; then promtool_bin="$cache/promtool"; fi
if [ -z "$promtool_bin" ]; then
  # Unpacked, not installed: installing the package would also start a Prometheus server.
  if (cd "$tmp" && { [ "$apt_updated" = 1 ] || apt-get update -qq; } && apt-get download -qq prometheus >/dev/null 2>&1 \
      && dpkg-deb -x prometheus_*.deb unpacked); then
    mkdir -p "$cache" && cp "$tmp/unpacked/usr/bin/promtool" "$cache/promtool" && promtool_bin="$cache/promtool"
  else
    echo "  WARNING: could not fetch Debian's prometheus package; Prometheus files checked as YAML only"
  fi
fi
if [ -n "$promtool_bin" ]; then
  for f in infra/prometheus/*.yml; do
    out=$("$promtool_bin" check config --syntax-only "$f" 2>&1 || true)
    if grep -q 'field kubernetes_sd_configs not found' <<<"$out"; then
      # Debian builds Prometheus without Kubernetes discovery: check the rest with static targets.
      node -e "const y=require('yaml');const c=y.parse(require('fs').readFileSync(process.argv[1],'utf8'));
        for (const s of c.scrape_configs) if (s.kubernetes_sd_configs) { delete s.kubernetes_sd_configs; s.static_configs=[{targets:['pod:9464']}]; }
        process.stdout.write(y.stringify(c));" "$f" >"$tmp/$(basename "$f")"
      echo "  $f: this promtool lacks Kubernetes discovery; checking it with static targets"
      "$promtool_bin" check config --syntax-only "$tmp/$(basename "$f")" | sed 's/^/  /'
    else
      "$promtool_bin" check config --syntax-only "$f" | sed 's/^/  /'
    fi
  done
  "$promtool_bin" check rules "$tmp/dashboard-rules.yml" | sed 's/^/  /'
else
  for f in infra/prometheus/*.yml; do
    node -e "require('yaml').parse(require('fs').readFileSync(process.argv[1],'utf8'))" "$f" && echo "  $f: YAML ok"
  done
fi

say "4/4 npm run build, services started from dist/"
if [ "${SKIP_BUILD_SMOKE:-}" = 1 ]; then
  echo "  skipped (SKIP_BUILD_SMOKE=1)"
else
  npm run build --silent
  free_port() { node -e "const s=require('node:net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
  prefix="infraci$$"
  sim_port=$(free_port)
  node packages/backend-sim/dist/cli.js --kind ollama --port "$sim_port" --host 127.0.0.1 >"$tmp/sim.log" 2>&1 &
  pids+=($!)
  # As the image runs them: plain node on dist/, production mode, nothing but the environment given.
  start_service() { # name file env...
    local name=$1 file=$2
    shift 2
    env -i PATH="$PATH" HOME="$HOME" NODE_ENV=production JWT_SECRET=infra-check-secret-0123456789abcdef \
      REDIS_URL="$REDIS_URL" REDIS_PREFIX="$prefix" OLLAMA_BASE_URL="http://127.0.0.1:$sim_port" "$@" \
      node --enable-source-maps "$file" >"$tmp/$name.log" 2>&1 &
    pids+=($!)
    eval "${name//-/_}_pid=$!"
  }
  api_port=$(free_port)
  start_service api services/api/dist/main.js PORT="$api_port" HOST=127.0.0.1
  start_service llm-worker services/llm-worker/dist/main.js METRICS_PORT="$(free_port)"
  workers=(llm-worker)
  if [ -f services/tts-worker/dist/main.js ]; then
    engine=none
    command -v espeak-ng >/dev/null 2>&1 && engine=espeak
    start_service tts-worker services/tts-worker/dist/main.js METRICS_PORT="$(free_port)" TTS_ENGINE="$engine"
    workers+=(tts-worker)
  fi
  up() {
    curl -fsS "http://127.0.0.1:$api_port/health" >/dev/null 2>&1 || return 1
    for w in "${workers[@]}"; do grep -q "$w ready" "$tmp/$w.log" || return 1; done
  }
  ok=0
  for _ in $(seq 1 150); do
    if up; then ok=1; break; fi
    sleep 0.1
  done
  ready=$(curl -sS "http://127.0.0.1:$api_port/ready" || true)
  failed=0
  for name in api "${workers[@]}"; do
    var="${name//-/_}_pid"
    kill -TERM "${!var}" 2>/dev/null || true
  done
  for name in api "${workers[@]}"; do
    var="${name//-/_}_pid"
    rc=0
    wait "${!var}" || rc=$?
    [ "$rc" = 0 ] || { echo "  FAIL: $name exited $rc after SIGTERM"; failed=1; }
    # Node prints process warnings (deprecations such as Fastify's FSTDEP codes) as "(node:PID) ...".
    if grep -E '^\(node:[0-9]+\) ' "$tmp/$name.log"; then
      echo "  FAIL: $name printed the Node warning above on start or stop"
      failed=1
    fi
  done
  redis-cli -u "$REDIS_URL" --scan --pattern "$prefix:*" | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null
  if [ "$ok" != 1 ] || [ "$failed" != 0 ]; then
    echo "  FAIL: started from dist/: all up=$ok"
    for name in api "${workers[@]}" sim; do echo "--- $name"; tail -n 15 "$tmp/$name.log"; done
    exit 1
  fi
  echo "  api /health 200, /ready: $ready"
  echo "  ${workers[*]} ready; every service exited 0 on SIGTERM and printed no Node warning"
fi
say "all checks passed"
