#!/usr/bin/env bash
# The end-to-end test on a real cluster (`make e2e`; docs/walkthrough.md, "The end-to-end
# test"). Given a kubeconfig, it:
#   1. installs ArgoCD (server-side apply: its CRDs are too big for a client-side one);
#   2. applies deploy/argocd/project.yaml and deploy/argocd/recsys-dev.yaml, pointed at
#      --repo and --revision, and waits for the Application to be Synced and Healthy;
#   3. measures three changes with `recsys probe`, run in a pod of the cluster against the
#      API's Service: a new API image (a rolling update), more replicas, and a new dataset
#      (the trainer Job re-run by the sync, then the API's hot swap; then the refresh
#      CronJob's pod run once);
#   4. writes OUT/report.md (deploy/e2e/report.py) and exits 1 if a change failed requests,
#      was not seen, or did not finish within the probe's window.
# Each change is made on the Application (spec.source.kustomize: images, replicas, patches),
# which ArgoCD syncs at once, rather than by a commit, which would need a repository this
# script can push to; what ArgoCD then does (waves, hook, rollout) is the same.
# The cluster must already hold the images, under the names the dev overlay runs
# (recsys-api:dev, recsys-trainer:dev) and the next API image (--next-image), built from code
# whose version differs; the dev overlay never pulls them. .github/workflows/e2e.yml builds
# and loads them on kind. The repository must be one ArgoCD can clone without credentials.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
APP=recsys-dev
NAMESPACE=recsys-dev
PLACEHOLDER_REPO=https://github.com/your-org/recsys.git
DATASET_NEXT=file:///usr/share/recsys/sample/ds2.csv
BASELINE_SECONDS=10

kubeconfig=${KUBECONFIG:-}
repo=""
revision=""
argocd_version=stable
next_image=recsys-api:e2e-next
probe_image=recsys-api:dev
replicas=3
window=180
out=var/e2e
dry_run=0

usage() {
    cat <<'EOF'
usage: deploy/e2e/run.sh --repo URL [options]

Installs ArgoCD on the cluster of the kubeconfig, deploys the dev overlay from URL at
REVISION, and measures a new API image, a replica change and a dataset change.

  --kubeconfig PATH      the cluster (default: $KUBECONFIG)
  --repo URL             the git repository ArgoCD clones (https://, ssh:// or git@)
  --revision REV         the commit, branch or tag to deploy (default: git rev-parse HEAD)
  --argocd-version V     ArgoCD's release: stable or vX.Y.Z (default: stable)
  --next-image IMAGE     the API image of the code update, already in the cluster
                         (default: recsys-api:e2e-next)
  --replicas N           the API replica count of the replica change, 2 or more (default: 3)
  --window SECONDS       how long the probe watches each change, 60 or more (default: 180)
  --out DIR              where the logs and report.md go (default: var/e2e)
  --dry-run              print what would be run and applied; touch no cluster
  -h, --help             this help
EOF
}

fail_usage() {
    echo "e2e: $*" >&2
    echo "(deploy/e2e/run.sh --help for the options)" >&2
    exit 2
}

fail() {
    echo "e2e: $*" >&2
    exit 1
}

say() {
    echo "[e2e $(date -u +%H:%M:%S)] $*" >&2
}

value_of() { # OPTION VALUE...: the value, or a usage error if there is none
    [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#--}" = "$2" ] || fail_usage "$1 needs a value"
    printf '%s' "$2"
}

while [ $# -gt 0 ]; do
    case $1 in
        --kubeconfig) kubeconfig=$(value_of "$@"); shift 2 ;;
        --repo) repo=$(value_of "$@"); shift 2 ;;
        --revision) revision=$(value_of "$@"); shift 2 ;;
        --argocd-version) argocd_version=$(value_of "$@"); shift 2 ;;
        --next-image) next_image=$(value_of "$@"); shift 2 ;;
        --replicas) replicas=$(value_of "$@"); shift 2 ;;
        --window) window=$(value_of "$@"); shift 2 ;;
        --out) out=$(value_of "$@"); shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) fail_usage "unknown argument: $1" ;;
    esac
done

[ -n "$repo" ] || fail_usage "--repo is required: the repository ArgoCD clones"
[[ $repo =~ ^(https://|ssh://|git@)[^[:space:]\|]+$ ]] || fail_usage "--repo: not a git URL: $repo"
[ -n "$kubeconfig" ] || fail_usage "no kubeconfig: pass --kubeconfig PATH or set KUBECONFIG"
[ -f "$kubeconfig" ] || fail_usage "--kubeconfig: no such file: $kubeconfig"
[[ $argocd_version =~ ^(stable|v[0-9]+\.[0-9]+\.[0-9]+)$ ]] ||
    fail_usage "--argocd-version: stable or vX.Y.Z, not $argocd_version"
[[ $replicas =~ ^[0-9]+$ ]] && [ "$replicas" -ge 2 ] ||
    fail_usage "--replicas: a whole number, 2 or more (dev runs 1), not $replicas"
[[ $window =~ ^[0-9]+$ ]] && [ "$window" -ge 60 ] ||
    fail_usage "--window: whole seconds, 60 or more, not $window"
[[ $next_image =~ ^[^[:space:]\"]+$ ]] || fail_usage "--next-image: not an image: $next_image"
if [ -z "$revision" ]; then
    revision=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null) ||
        fail_usage "--revision: not in a git checkout; give the commit to deploy"
fi
[[ $revision =~ ^[A-Za-z0-9._/-]+$ ]] || fail_usage "--revision: not a git revision: $revision"

export KUBECONFIG=$kubeconfig
INSTALL=https://raw.githubusercontent.com/argoproj/argo-cd/$argocd_version/manifests/install.yaml

run() { # a command against the cluster; printed instead with --dry-run (as sh would read it)
    if [ "$dry_run" = 1 ]; then
        local word
        printf '+'
        for word in "$@"; do
            if [[ $word =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
                printf ' %s' "$word"
            else
                printf " '%s'" "${word//\'/\'\\\'\'}"
            fi
        done
        printf '\n'
        return 0
    fi
    "$@"
}

apply_text() { # NAME TEXT: server-side apply of TEXT (printed with --dry-run)
    if [ "$dry_run" = 1 ]; then
        printf '+ kubectl apply --server-side -f - # %s\n%s\n---\n' "$1" "$2"
        return 0
    fi
    kubectl apply --server-side -f - <<<"$2"
}

now() {
    python3 -c 'import time; print(f"{time.time():.3f}")'
}

wait_app() { # the Application's last operation succeeded, and it is Synced and Healthy
    # Polled rather than `kubectl wait --for=jsonpath`, which some kubectl releases end with
    # an error while the field does not exist yet (a new Application has no status).
    local want="Succeeded Synced Healthy" seen="" deadline=$((SECONDS + 900))
    if [ "$dry_run" = 1 ]; then
        run kubectl -n argocd get "application/$APP" \
            -o jsonpath='{.status.operationState.phase} {.status.sync.status} {.status.health.status}'
        return 0
    fi
    while [ "$SECONDS" -lt "$deadline" ]; do
        seen=$(kubectl -n argocd get "application/$APP" -o jsonpath='{.status.operationState.phase} {.status.sync.status} {.status.health.status}' 2>/dev/null || true)
        [ "$seen" = "$want" ] && return 0
        sleep 2
    done
    kubectl -n argocd get "application/$APP" -o yaml >"$out/application.yaml" || true
    fail "application $APP is '$seen' after 900 s, not '$want' ($out/application.yaml)"
}

patch_app() { # JSON: a merge patch of the Application's spec.source.kustomize
    run kubectl -n argocd patch "application/$APP" --type merge \
        -p "{\"spec\":{\"source\":{\"kustomize\":$1}}}"
}

probe_pod() { # NAME: the Pod that runs `recsys probe` for WINDOW seconds
    cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: e2e-probe-$1
  namespace: $NAMESPACE
  labels:
    app.kubernetes.io/name: recsys-e2e-probe
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: probe
      image: $probe_image
      imagePullPolicy: IfNotPresent
      args: ["probe", "--url", "http://recsys-api.$NAMESPACE.svc", "--duration", "$window", "--json"]
      resources:
        requests: {cpu: 100m, memory: 128Mi}
        limits: {cpu: "1", memory: 256Mi}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: ["ALL"]
EOF
}

start_probe() { # NAME: start the probe, and wait until it probes and has a baseline
    run kubectl -n "$NAMESPACE" delete pod "e2e-probe-$1" --ignore-not-found --wait=true
    apply_text "probe $1" "$(probe_pod "$1")"
    run kubectl -n "$NAMESPACE" wait "pod/e2e-probe-$1" --for=condition=Ready --timeout=300s
    if [ "$dry_run" = 0 ]; then
        for _ in $(seq 60); do
            kubectl -n "$NAMESPACE" logs "e2e-probe-$1" 2>/dev/null | grep -q '^probing ' && break
            sleep 1
        done
    fi
    probe_started=$(now)
    run sleep "$BASELINE_SECONDS"
}

finish_probe() { # NAME CHANGED DONE: wait for the probe's end, keep its log and the times
    run kubectl -n "$NAMESPACE" wait "pod/e2e-probe-$1" --timeout="$((window + 300))s" \
        --for=jsonpath='{.status.phase}'=Succeeded
    if [ "$dry_run" = 0 ]; then
        kubectl -n "$NAMESPACE" logs "e2e-probe-$1" >"$out/$1.log"
    fi
    python3 - "$out/$1.meta.json" "$1" "$probe_started" "$2" "$3" "$window" <<'EOF'
import json, sys
path, case, started, changed, done, window = sys.argv[1:]
with open(path, "w") as handle:
    json.dump({
        "case": case,
        "change_offset_seconds": round(float(changed) - float(started), 3),
        "done_offset_seconds": round(float(done) - float(started), 3),
        "window_seconds": int(window),
    }, handle)
EOF
}

mkdir -p "$out"
say "cluster of $KUBECONFIG; deploying $repo at $revision; ArgoCD $argocd_version"
command -v kubectl >/dev/null || fail "kubectl is not on PATH"
command -v python3 >/dev/null || fail "python3 is not on PATH"
run kubectl version

say "1. ArgoCD ($INSTALL)"
apply_text "namespace argocd" "apiVersion: v1
kind: Namespace
metadata:
  name: argocd"
run kubectl apply --server-side --force-conflicts -n argocd -f "$INSTALL"
run kubectl -n argocd rollout status statefulset/argocd-application-controller --timeout=600s
run kubectl -n argocd wait deployment --all --for=condition=Available --timeout=600s

say "2. the project and the Application, at $revision"
apply_text "deploy/argocd/project.yaml" \
    "$(sed "s|$PLACEHOLDER_REPO|$repo|" "$ROOT/deploy/argocd/project.yaml")"
apply_text "deploy/argocd/recsys-dev.yaml" \
    "$(sed -e "s|$PLACEHOLDER_REPO|$repo|" -e "s|targetRevision: main|targetRevision: $revision|" \
        "$ROOT/deploy/argocd/recsys-dev.yaml")"
first_sync=$(now)
wait_app
say "first sync Healthy after $(python3 -c "print(round($(now) - $first_sync))") s"

say "3a. code update: the API image becomes $next_image (a rolling update)"
start_probe code
changed=$(now)
patch_app "{\"images\":[\"recsys-api=$next_image\"]}"
run kubectl -n "$NAMESPACE" wait deployment/recsys-api --timeout=600s \
    --for=jsonpath='{.spec.template.spec.containers[0].image}'="$next_image"
run kubectl -n "$NAMESPACE" rollout status deployment/recsys-api --timeout=600s
wait_app
finish_probe code "$changed" "$(now)"

say "3b. replica change: $replicas API replicas"
start_probe replicas
changed=$(now)
patch_app "{\"replicas\":[{\"name\":\"recsys-api\",\"count\":$replicas}]}"
run kubectl -n "$NAMESPACE" wait deployment/recsys-api --timeout=600s \
    --for=jsonpath='{.status.readyReplicas}'="$replicas"
wait_app
finish_probe replicas "$changed" "$(now)"

say "3c. dataset change: $DATASET_NEXT (trainer Job, then the API's hot swap)"
start_probe dataset
changed=$(now)
patch_app "{\"patches\":[{\"target\":{\"kind\":\"ConfigMap\",\"name\":\"recsys-dataset\"},\
\"patch\":\"- op: replace\\n  path: /data/RECSYS_DATASET_URL\\n  value: $DATASET_NEXT\"}]}"
run kubectl -n "$NAMESPACE" wait configmap/recsys-dataset --timeout=300s \
    --for=jsonpath='{.data.RECSYS_DATASET_URL}'="$DATASET_NEXT"
wait_app
finish_probe dataset "$changed" "$(now)"
say "   the refresh CronJob's pod, once: the dataset is unchanged since the Job trained it"
run kubectl -n "$NAMESPACE" delete job e2e-refresh --ignore-not-found --wait=true
run kubectl -n "$NAMESPACE" create job e2e-refresh --from=cronjob/recsys-refresh
run kubectl -n "$NAMESPACE" wait job/e2e-refresh --for=condition=Complete --timeout=600s
if [ "$dry_run" = 0 ]; then
    kubectl -n "$NAMESPACE" logs job/e2e-refresh >"$out/refresh.log"
fi

say "4. report"
if [ "$dry_run" = 1 ]; then
    echo "+ python3 deploy/e2e/report.py $out"
    exit 0
fi
python3 "$HERE/report.py" "$out"
