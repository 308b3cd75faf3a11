#!/usr/bin/env bash
# Build both images and run them for real, the way the cluster does: the trainer image
# trains the bundled sample into a shared volume, the API image serves that volume
# read-only, and a request from the host must get recommendations.
#
# This machine has no Docker engine and cannot pull from public registries, so the images
# are built with podman on a local base made by debootstrap (docs/deployment.md, "Images"):
# images/Dockerfile's two targets, api and trainer, with its BASE_IMAGE build argument
# pointed at that base. Run as root (`make test-images`).
#
# Knobs (environment):
#   TEST_IMAGES_WORK      scratch folder (default var/test-images, ignored by git)
#   DEBIAN_MIRROR         mirror for debootstrap (default http://deb.debian.org/debian)
#   DEBOOTSTRAP_TIMEOUT   seconds allowed for debootstrap (default 900)
#   REBUILD_BASE=1        remake the local base even if the image exists
#   KEEP_IMAGES=1         keep the images built here (they are removed otherwise)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
WORK=${TEST_IMAGES_WORK:-$REPO/var/test-images}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE=localhost/recsys-base:bookworm
RUN_ID=$$
API_IMAGE=localhost/recsys-api:test-$RUN_ID
TRAINER_IMAGE=localhost/recsys-trainer:test-$RUN_ID
VOLUME=recsys-test-data-$RUN_ID
API_CONTAINER=recsys-test-api-$RUN_ID
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
SAMPLE=data/sample/ds1.csv

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'test-images: FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: podman builds and runs rootful here"
[ -r "$CA_BUNDLE" ] || die "no CA bundle at $CA_BUNDLE to mount into pip build steps"
[ -r "$SAMPLE" ] || die "no sample dataset at $SAMPLE"

# --- tools ------------------------------------------------------------------------------
missing=()
for tool in podman buildah debootstrap runc iptables; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# The CNI bridge plugin publishes the API's port to the host.
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    podman buildah debootstrap runc iptables containernetworking-plugins >/dev/null
fi

# --- podman configuration ---------------------------------------------------------------
# runc, cgroupfs and file events work without systemd. Containers get explicit ulimits no
# higher than this process's own hard limits: runc cannot raise them, and podman's default
# (the host's maximum) makes container creation fail with "error setting rlimits".
mkdir -p "$WORK"
hard_limit() {
  local value
  value=$(ulimit -H "$1")
  if [ "$value" = unlimited ] || [ "$value" -gt 32768 ]; then value=32768; fi
  echo "$value"
}
nofile=$(hard_limit -n)
nproc=$(hard_limit -u)
export CONTAINERS_CONF=$WORK/containers.conf
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF

# --- cleanup ----------------------------------------------------------------------------
cleanup() {
  local status=$?
  if [ "$status" -ne 0 ] && podman container exists "$API_CONTAINER" 2>/dev/null; then
    echo "--- API container log" >&2
    podman logs "$API_CONTAINER" >&2 || true
  fi
  podman rm -f -t 0 "$API_CONTAINER" >/dev/null 2>&1 || true
  podman volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  if [ "${KEEP_IMAGES:-0}" != 1 ]; then
    podman rmi -f "$API_IMAGE" "$TRAINER_IMAGE" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK/rootfs"
}
trap cleanup EXIT

# --- local base -------------------------------------------------------------------------
# Debian's python3 with its venv module (ensurepip's bundled pip), the same shape as the
# official slim image the Dockerfile defaults to. Kept between runs: it only changes with
# Debian's point releases.
if [ "${REBUILD_BASE:-0}" = 1 ] || ! podman image exists "$BASE"; then
  say "making the local base $BASE with debootstrap (timeout ${DEBOOTSTRAP_TIMEOUT:-900} s)"
  rm -rf "$WORK/rootfs"
  timeout "${DEBOOTSTRAP_TIMEOUT:-900}" debootstrap --variant=minbase \
    --include=python3,python3-venv bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log: $WORK/debootstrap.log)"; }
  rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
  tar -C "$WORK/rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' - "$BASE" >/dev/null
  rm -rf "$WORK/rootfs"
fi

# --- build ------------------------------------------------------------------------------
# build TARGET TAG: one target of images/Dockerfile. Docker format keeps the API image's
# HEALTHCHECK (the OCI format has no such field). The host's CA bundle is mounted into every
# RUN step: pip reaches PyPI through this machine's TLS-intercepting egress, whose CA only
# the host's bundle holds.
build() {
  local target=$1 tag=$2
  say "building $tag (target $target)"
  podman build --format docker --pull=never --layers=false \
    --build-arg "BASE_IMAGE=$BASE" \
    --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    -v "$CA_BUNDLE:$CA_BUNDLE:ro" \
    -f images/Dockerfile --target "$target" -t "$tag" . >"$WORK/build-$target.log" 2>&1 \
    || { tail -30 "$WORK/build-$target.log" >&2; die "building $target failed (log: $WORK/build-$target.log)"; }
}
build trainer "$TRAINER_IMAGE"
build api "$API_IMAGE"

for image in "$TRAINER_IMAGE" "$API_IMAGE"; do
  user=$(podman image inspect -f '{{.Config.User}}' "$image")
  [ "$user" = 10001:10001 ] || die "$image runs as '$user', not 10001:10001"
  # No dataset or model inside: /data is an empty mount point, the build stages' sources,
  # wheels and build venv stayed behind, and no model file or sample CSV is anywhere.
  found=$(podman run --rm --no-healthcheck --user 0 --entrypoint /bin/sh "$image" -c \
    'ls -A /data; ls -d /src /wheels /opt/build 2>/dev/null; find / -xdev \( -name "*.rsm" \
      -o -name current.json -o -name "ds[0-9].csv" -o -name songs.csv \) -print')
  [ -z "$found" ] || die "$image carries data it should not: $found"
done

# --- run: the trainer publishes into a shared volume --------------------------------------
# The same restrictions as the manifests: read-only root, /tmp a tmpfs, no capabilities.
# No systemd here to time HEALTHCHECKs, so podman is told not to try (the API image's
# check command is run once by hand below).
hardened=(--read-only "--tmpfs=/tmp:rw,size=512m" --cap-drop=ALL --security-opt=no-new-privileges
  --no-healthcheck)
podman volume create "$VOLUME" >/dev/null

# trainer DATASET COMMAND...: the trainer image with the volume read-write, as in the Job.
trainer() {
  local dataset=$1
  shift
  podman run --rm "${hardened[@]}" -v "$VOLUME:/data" -v "$REPO/data/sample:/datasets:ro" \
    -e "RECSYS_DATASET_URL=/datasets/$dataset" "$TRAINER_IMAGE" "$@"
}
# last_json KEY: KEY of the JSON object on the last line of stdin.
last_json() {
  python3 -c 'import json, sys; print(json.loads(sys.stdin.read().splitlines()[-1])[sys.argv[1]])' "$1"
}

say "training ds1 in $TRAINER_IMAGE (recsys train, as the trainer Job)"
summary=$(trainer ds1.csv train --json)
echo "$summary" >&2
[ "$(last_json status <<<"$summary")" = published ] || die "train did not publish a model"
first_model=$(last_json model_id <<<"$summary")
songs=$(podman run --rm "${hardened[@]}" -v "$VOLUME:/data:ro" "$TRAINER_IMAGE" \
  models show --rules 1 --json | python3 -c 'import json, sys
print(json.dumps(json.loads(sys.stdin.read().splitlines()[-1])["antecedent"]))')

# --- run: the API serves the volume read-only ---------------------------------------------
cat >"$WORK/check-api.py" <<'EOF'
"""check-api.py PORT CONTAINER MODEL_ID SONGS: wait until POST /api/recommend, sent from the
host, answers 200 with songs from model MODEL_ID (finding and loading it is the API's job)."""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

port, container, model_id, songs = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
request = urllib.request.Request(
    f"http://127.0.0.1:{port}/api/recommend",
    data=json.dumps({"songs": songs, "k": 5}).encode(),
    headers={"Content-Type": "application/json"},
    method="POST",
)
deadline = time.monotonic() + 90
answer = "no answer"
while time.monotonic() < deadline:
    running = subprocess.run(
        ["podman", "inspect", "-f", "{{.State.Running}}", container],
        capture_output=True, text=True, check=False,
    ).stdout.strip()
    if running != "true":
        sys.exit("test-images: FAILED: the API container stopped")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status, body = response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:  # 503 until a model is loaded
        answer = f"{error.code} {error.read()!r}"
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        answer = str(error)
    else:
        answer = f"{status} {json.dumps(body, ensure_ascii=False)}"
        if status == 200 and body.get("model_id") == model_id:
            if not body.get("songs"):
                sys.exit(f"test-images: FAILED: no songs in {answer}")
            print(f"POST /api/recommend {json.dumps(songs, ensure_ascii=False)} -> {answer}")
            sys.exit(0)
    time.sleep(0.5)
sys.exit(f"test-images: FAILED: no answer from model {model_id} within 90 s; last: {answer}")
EOF
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
say "serving with $API_IMAGE on 127.0.0.1:$port (recsys serve, the volume read-only)"
podman run -d --name "$API_CONTAINER" "${hardened[@]}" \
  -v "$VOLUME:/data:ro" -p "127.0.0.1:$port:8000" "$API_IMAGE" >/dev/null
python3 "$WORK/check-api.py" "$port" "$API_CONTAINER" "$first_model" "$songs"

mapfile -t healthcheck < <(podman image inspect -f '{{json .HealthCheck}}' "$API_IMAGE" \
  | python3 -c 'import json, sys
test = json.load(sys.stdin)["Test"]
print("\n".join(test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]))')
podman exec "$API_CONTAINER" "${healthcheck[@]}" || die "the API image's HEALTHCHECK failed"
echo "HEALTHCHECK (${healthcheck[*]}): healthy" >&2

# --- run: a new dataset reaches the running API -------------------------------------------
say "refreshing to ds2 in $TRAINER_IMAGE (recsys refresh, as the CronJob) while the API serves"
summary=$(trainer ds2.csv refresh --json)
echo "$summary" >&2
[ "$(last_json status <<<"$summary")" = published ] || die "refresh did not publish ds2's model"
python3 "$WORK/check-api.py" "$port" "$API_CONTAINER" "$(last_json model_id <<<"$summary")" "$songs"

say "test-images: OK (both images built; train and refresh published; the API served both models)"
