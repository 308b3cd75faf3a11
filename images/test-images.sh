#!/usr/bin/env bash
# Build both images, then run the dev overlay as it renders, with `podman kube play`: the
# API Deployment starts with no model, the trainer Job's pod publishes one into the shared
# volume, the API picks it up and answers; a refresh CronJob pod with a changed dataset
# publishes another, and the API answers from that one.
#
# This machine has no Docker engine and cannot pull from public registries, so the images
# are built with podman on a local base made by debootstrap (docs/deployment.md, "Images"):
# images/Dockerfile's two targets, api and trainer, with its BASE_IMAGE build argument
# pointed at that base. What runs is `kubectl kustomize images/kube-play/dev`: the dev
# overlay with the images built here and the API's ports published on the loopback, nothing
# else changed (tests/deploy/test_kube_play.py). images/kube-play/pods.py cuts it into what
# kube play takes, and images/kube-play/probe.py asks the API from the host.
# Run as root (`make test-images`).
#
# What kube play (podman 4.3, Debian bookworm) does not do, and what stands in for it:
#   - Job and CronJob: no such kinds; their pod templates run as Pods (pods.py pod).
#   - Probes: readiness and startup probes are ignored, and the liveness probe becomes a
#     healthcheck that needs systemd timers (absent here) and curl on a numeric port (the
#     image has no curl, the probe names the port `metrics`). probe.py polls /healthz and
#     /readyz from the host instead (and /healthz on the metrics port, where the liveness
#     probe asks), and the image's own HEALTHCHECK command is run once with `podman exec`.
#   - Ports: podman 4 publishes every containerPort on the host; the overlay gives each a
#     loopback hostIP and hostPort.
#   - emptyDir: a volume named after the pod's volume (`tmp`), shared by the pods of one
#     run rather than one per pod, and without its sizeLimit.
#   - fsGroup: ignored; the PVC's volume is owned by 10001 because podman copies up the
#     image's /data (a cluster applies fsGroup).
#   - Services, NetworkPolicies, the PodDisruptionBudget, the Namespace, rolling updates,
#     preStop hooks, replicas, ArgoCD waves and hooks: nothing to run them; `make test`
#     checks them offline (tests/deploy), a real cluster shows them (docs/walkthrough.md).
#
# Knobs (environment):
#   TEST_IMAGES_WORK      scratch folder (default var/test-images, ignored by git)
#   DEBIAN_MIRROR         mirror for debootstrap (default http://deb.debian.org/debian)
#   DEBOOTSTRAP_TIMEOUT   seconds allowed for debootstrap (default 900)
#   REBUILD_BASE=1        remake the local base even if the image exists
#   KEEP_IMAGES=1         keep the images built here (they are removed otherwise)
set -euo pipefail
# A failing command inside $(...) fails it too (bash would otherwise go on in there).
shopt -s inherit_errexit

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
WORK=${TEST_IMAGES_WORK:-$REPO/var/test-images}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE=localhost/recsys-base:bookworm
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# What images/kube-play/dev names: the images built here, and the host ports (loopback)
# of the API's http and metrics ports.
KUBE_PLAY=images/kube-play
API_IMAGE=localhost/recsys-api:kube-play
TRAINER_IMAGE=localhost/recsys-trainer:kube-play
API_PORT=18000
METRICS_PORT=19100
# What kube play makes of the overlay: pods named after the workloads (a Deployment's pod
# is NAME-pod-0, or NAME-pod since podman 5), and a volume per PVC and per emptyDir.
API_PODS=(recsys-api-pod-0 recsys-api-pod)
TRAIN_POD=recsys-train
REFRESH_POD=recsys-refresh
VOLUMES=(recsys-data tmp)
PLAYED=$WORK/kube-play

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'test-images: FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: podman builds and runs rootful here"
[ -r "$CA_BUNDLE" ] || die "no CA bundle at $CA_BUNDLE to mount into pip build steps"

# --- tools ------------------------------------------------------------------------------
missing=()
for tool in podman buildah debootstrap runc iptables catatonit; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# The CNI bridge plugin publishes the API's ports to the host; catatonit is the init of the
# pause image that kube play builds for its pods; pods.py reads the manifests with PyYAML.
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    podman buildah debootstrap runc iptables catatonit containernetworking-plugins \
    python3-yaml >/dev/null
fi
# kubectl renders the overlays, as in `make test` (.ci/run installs it the same way).
command -v kubectl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq kubectl >/dev/null; }

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

# --- nothing of ours is in the way --------------------------------------------------------
# The pods and volumes have the manifests' names, so one run at a time; whatever has those
# names is not this run's to remove.
for pod in "${API_PODS[@]}" "$TRAIN_POD" "$REFRESH_POD"; do
  ! podman pod exists "$pod" || die "a pod named $pod exists (an earlier run?): podman pod rm -f $pod"
done
for volume in "${VOLUMES[@]}"; do
  ! podman volume exists "$volume" \
    || die "a volume named $volume exists (an earlier run?): podman volume rm -f $volume"
done
for port in "$API_PORT" "$METRICS_PORT"; do
  python3 -c 'import socket, sys; socket.create_server(("127.0.0.1", int(sys.argv[1]))).close()' \
    "$port" 2>/dev/null || die "127.0.0.1:$port is in use; images/kube-play/dev publishes on it"
done

# --- cleanup ----------------------------------------------------------------------------
containers_of() {  # POD...: the containers of those pods that exist, infra excepted
  local pod
  for pod in "$@"; do
    podman pod exists "$pod" 2>/dev/null || continue
    podman ps -a --filter "pod=$pod" --format '{{.Names}} {{.IsInfra}}' | awk '$2 == "false" {print $1}'
  done
}
cleanup() {
  local status=$? container
  mkdir -p "$PLAYED"
  for container in $(containers_of "${API_PODS[@]}" "$TRAIN_POD" "$REFRESH_POD"); do
    podman logs "$container" >"$PLAYED/$container.log" 2>&1 || true
    if [ "$status" -ne 0 ]; then
      echo "--- $container (log: $PLAYED/$container.log)" >&2
      tail -20 "$PLAYED/$container.log" >&2
    fi
  done
  for pod in "${API_PODS[@]}" "$TRAIN_POD" "$REFRESH_POD"; do
    podman pod rm -f -t 0 "$pod" >/dev/null 2>&1 || true
  done
  for volume in "${VOLUMES[@]}"; do
    podman volume rm -f "$volume" >/dev/null 2>&1 || true
  done
  if [ "${KEEP_IMAGES:-0}" != 1 ]; then
    podman rmi -f "$API_IMAGE" "$TRAINER_IMAGE" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK/rootfs"
  [ "$status" -eq 0 ] || echo "test-images: FAILED (see above; logs in $WORK)" >&2
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

# --- what the images hold -----------------------------------------------------------------
# Both run as 10001. No model anywhere; /data an empty mount point; the build stages'
# sources, wheels and build venv stayed behind. The API image holds no dataset; the trainer
# image holds the two samples, where the Dockerfile puts them, and no other.
SAMPLES=/usr/share/recsys/sample
for image in "$TRAINER_IMAGE" "$API_IMAGE"; do
  user=$(podman image inspect -f '{{.Config.User}}' "$image")
  [ "$user" = 10001:10001 ] || die "$image runs as '$user', not 10001:10001"
  found=$(podman run --rm --no-healthcheck --user 0 --entrypoint /bin/sh "$image" -c \
    'ls -A /data; ls -d /src /wheels /opt/build 2>/dev/null; find / -xdev \( -name "*.rsm" \
      -o -name current.json -o -name "ds[0-9]*.csv" -o -name songs.csv \) -print | sort' 2>/dev/null)
  expected=""
  [ "$image" = "$TRAINER_IMAGE" ] && expected=$(printf '%s\n' "$SAMPLES/ds1.csv" "$SAMPLES/ds2.csv")
  [ "$found" = "$expected" ] || die "$image holds '$found', expected '$expected'"
done
echo "the images run as 10001:10001; only the trainer image holds data: $SAMPLES/ds{1,2}.csv" >&2

# --- render -----------------------------------------------------------------------------
# The dev overlay through images/kube-play/dev (image names, loopback ports), and the same
# with the other sample as the dataset (images/kube-play/ds2), cut into what kube play runs.
say "rendering $KUBE_PLAY/dev and $KUBE_PLAY/ds2 (the dev overlay) for podman kube play"
mkdir -p "$PLAYED"
rm -f "$PLAYED"/*
kubectl kustomize "$KUBE_PLAY/dev" >"$PLAYED/dev.yaml"
kubectl kustomize "$KUBE_PLAY/ds2" >"$PLAYED/ds2.yaml"
pods() { python3 "$KUBE_PLAY/pods.py" "$@"; }
pods api <"$PLAYED/dev.yaml" >"$PLAYED/api.yaml"
pods pod Job recsys-train <"$PLAYED/dev.yaml" >"$PLAYED/train.yaml"
pods pod CronJob recsys-refresh <"$PLAYED/ds2.yaml" >"$PLAYED/refresh.yaml"
ls -l "$PLAYED"/*.yaml >&2

# The dev overlay's dataset is a file the trainer image holds (readable by its user).
dataset_url=$(pods config recsys-dataset RECSYS_DATASET_URL <"$PLAYED/dev.yaml")
refresh_url=$(pods config recsys-dataset RECSYS_DATASET_URL <"$PLAYED/ds2.yaml")
for url in "$dataset_url" "$refresh_url"; do
  case $url in file:///*) ;; *) die "the dataset $url is not a file:// URL into the trainer image" ;; esac
  podman run --rm --no-healthcheck --entrypoint /usr/bin/test "$TRAINER_IMAGE" -r "${url#file://}" \
    || die "the dev overlay's dataset $url is not in $TRAINER_IMAGE"
  echo "$url is in $TRAINER_IMAGE" >&2
done

# --- run: the API Deployment, live but not ready without a model ----------------------------
# kube play's own messages include errors about healthcheck timers (no systemd): logged.
play() {
  local file=$1
  podman kube play "$PLAYED/$file" >"$PLAYED/${file%.yaml}.play.log" 2>&1 \
    || { cat "$PLAYED/${file%.yaml}.play.log" >&2; die "podman kube play $file failed"; }
}
container_in() {  # POD NAME: the podman container kube play made of container NAME in POD
  local found
  found=$(containers_of "$1" | grep -x -- "$1-$2" || true)
  [ -n "$found" ] || die "no container $1-$2 in pod $1"
  echo "$found"
}
say "podman kube play: the ConfigMap, the PVC and the API Deployment (127.0.0.1:$API_PORT)"
play api.yaml
api_pod=""
for pod in "${API_PODS[@]}"; do podman pod exists "$pod" && api_pod=$pod; done
[ -n "$api_pod" ] || die "kube play made no pod of the Deployment (looked for ${API_PODS[*]})"
api=$(container_in "$api_pod" api)
python3 "$KUBE_PLAY/probe.py" live "$api" "$API_PORT"

# The API container runs as the Deployment says, and the process shows it.
pods check Deployment recsys-api "$api" <"$PLAYED/dev.yaml" \
  || die "$api does not run as Deployment/recsys-api says"
podman exec "$api" /bin/sh -c '
  set -e
  [ "$(id -u):$(id -g)" = 10001:10001 ] || { echo "runs as $(id -u):$(id -g)"; exit 1; }
  grep -qx "CapEff:[[:space:]]*0*" /proc/1/status || { grep CapEff /proc/1/status; exit 1; }
  grep -qx "NoNewPrivs:[[:space:]]*1" /proc/1/status || { echo "privileges may rise"; exit 1; }
  ! touch /.written 2>/dev/null || { echo "the root is writable"; exit 1; }
  ! touch /data/.written 2>/dev/null || { echo "/data is writable"; exit 1; }
  touch /tmp/.written && rm /tmp/.written
' || die "the API container is not what the Deployment says"
echo "in $api: uid 10001, no capabilities, no new privileges, / and /data read-only, /tmp writable" >&2

# --- run: the trainer Job's pod publishes; the API becomes ready on it ----------------------
# run_to_completion POD CONTAINER KIND NAME RENDERED: wait (bounded) for a run-to-completion
# pod's container to exit 0, check it ran as its manifest in RENDERED says, and print the
# model it published.
data=$(podman volume inspect -f '{{.Mountpoint}}' recsys-data)
run_to_completion() {
  local pod=$1 name=$2 kind=$3 workload=$4 rendered=$5 container code
  container=$(container_in "$pod" "$name")
  code=$(timeout 600 podman wait "$container") || die "$kind/$workload: $container still running after 600 s"
  podman logs "$container" >"$PLAYED/$container.log" 2>&1
  sed 's/^/  /' "$PLAYED/$container.log" >&2
  [ "$code" = 0 ] || die "$kind/$workload: $container exited $code"
  pods check "$kind" "$workload" "$container" <"$rendered" >&2 \
    || die "$container does not run as $kind/$workload says"
  # Everything on the shared volume was written by the image's user, as a cluster's fsGroup
  # and runAsUser would have it.
  strangers=$(find "$data" \( ! -uid 10001 -o ! -gid 10001 \) -print)
  [ -z "$strangers" ] || die "files on the volume not owned by 10001:10001: $strangers"
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["model_id"])' "$data/current.json"
}
say "podman kube play: the trainer Job's pod (recsys train, $dataset_url)"
play train.yaml
first_model=$(run_to_completion "$TRAIN_POD" trainer Job recsys-train "$PLAYED/dev.yaml")
echo "published $first_model, every file on the volume owned by 10001:10001" >&2
python3 "$KUBE_PLAY/probe.py" serves "$api" "$API_PORT" "$first_model" "${dataset_url##*/}"
python3 "$KUBE_PLAY/probe.py" metrics "$api" "$API_PORT" "$METRICS_PORT"

# The image's HEALTHCHECK, which podman cannot time without systemd: its command, run once.
mapfile -t healthcheck < <(podman image inspect -f '{{json .HealthCheck}}' "$API_IMAGE" \
  | python3 -c 'import json, sys
test = json.load(sys.stdin)["Test"]
print("\n".join(test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]))')
podman exec "$api" "${healthcheck[@]}" || die "the API image's HEALTHCHECK failed"
echo "HEALTHCHECK (${healthcheck[*]}): healthy" >&2

# --- run: a refresh CronJob pod with a changed dataset; the API follows ----------------------
say "podman kube play: the refresh CronJob's pod (recsys refresh, $refresh_url)"
play refresh.yaml
second_model=$(run_to_completion "$REFRESH_POD" refresh CronJob recsys-refresh "$PLAYED/ds2.yaml")
[ "$second_model" != "$first_model" ] || die "refresh published nothing new (still $first_model)"
echo "published $second_model" >&2
python3 "$KUBE_PLAY/probe.py" serves "$api" "$API_PORT" "$second_model" "${refresh_url##*/}"

say "test-images: OK (the dev overlay ran as rendered: the API was live without a model and \
ready on the trainer's; a refresh with a new dataset reached it; every container ran as \
its manifest says)"
