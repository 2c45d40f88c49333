#!/bin/sh
# Installs the Debian packages Nimbus needs to build, test and benchmark.
# Idempotent: asks dpkg first, runs `apt-get update` at most once, and only
# when something is missing. awscli: the integration tests drive Lambda's API with
# the real AWS CLI too, and with the AWS SDK for JavaScript v3 (npm, pinned in
# tests/integration/js/package-lock.json), installed there once. tzdata: the
# zone files schedules in a time zone read. e2fsprogs: mke2fs makes each
# instance's /tmp file system. libyaml-dev: `nimbus deploy` reads SAM and Serverless Devs
# project files (YAML). prometheus: promtool checks the /metrics page and a real
# Prometheus server scrapes it in tests/integration/test_metrics.py and bench/metrics.py
# (each starts its own, on its own port); its Debian service must not run.
# chromium, chromium-driver, python3-selenium: tests/integration/test_console.py drives
# the web console in a real headless Chromium. nginx: bench/run.sh's two-hop baseline (started by the benchmark with its
# own config; Debian's service must not start on :80 at install, nor at boot).
set -eu
PKGS="gcc clang make cmake ninja-build pkg-config \
  node-llhttp libcjson-dev libsqlite3-dev libarchive-dev libseccomp-dev \
  libcurl4-openssl-dev libssl-dev libcriterion-dev zlib1g-dev libyaml-dev \
  zip unzip curl ca-certificates python3 nodejs strace libc6-dev libclang-rt-14-dev \
  awscli tzdata e2fsprogs zsh prometheus \
  chromium chromium-driver python3-selenium openssl nftables iproute2 nginx"
# npm: Debian's nodejs leaves it to the npm package; a Node.js that bundles
# its own npm (NodeSource's) must not get Debian's on top.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
npm_deps() {
  d="$(dirname "$0")/../tests/integration/js"
  [ -d "$d/node_modules/@aws-sdk/client-lambda" ] && return 0
  command -v npm >/dev/null 2>&1 || { echo "deps: npm is missing (install Debian's npm package)" >&2; return 1; }
  echo "deps: npm ci in tests/integration/js"
  (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
}
if [ -z "$missing" ]; then npm_deps; exit $?; fi
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing packages:$missing (run as root, or install them)" >&2
  exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# No service a package brings may start (prometheus would take :9090, nginx :80): a
# policy-rc.d that says no while installing, and systemd's unit disabled.
rc_policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$rc_policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$rc_policy"; chmod 755 "$rc_policy"; own_policy=1; fi
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing || { [ -z "$own_policy" ] || rm -f "$rc_policy"; exit 1; }
[ -z "$own_policy" ] || rm -f "$rc_policy"
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
  case " $missing " in *" nginx "*) systemctl disable --now nginx >/dev/null 2>&1 || true ;; esac
fi
npm_deps
