#!/usr/bin/env bash
# `make test-arktos`: the end-to-end tests against a REAL Arktos control plane.
#
# Starts Arktos (kube-apiserver, kube-controller-manager, etcd) with the scripts of an Arktos distribution
# folder (ARKTOS_DIST, default ../shared/arktos: up.sh / down.sh, see its README) in a fresh run folder, then
# runs tests/e2e with E2E_BACKEND=arktos: the session starts the node agent and the gateway stack against it.
# Needs etcd (Debian: etcd-server), openssl, curl, xz. Stops Arktos on exit. Arguments, if any, are given to
# pytest instead of tests/e2e (e.g. one test file).
#
# Ports: ARKTOS_PORT (16443), ETCD_PORT (12379 and +1), KCM_PORT (10257).
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=${ARKTOS_DIST:-../shared/arktos}
RUN=${ARKTOS_RUN_DIR:-$PWD/.run/arktos}
if [ ! -x "$DIST/up.sh" ]; then
  echo "make test-arktos: no Arktos control plane at $DIST (set ARKTOS_DIST to its folder)" >&2
  exit 2
fi
command -v etcd >/dev/null || { echo "make test-arktos: etcd not found (apt-get install etcd-server)" >&2; exit 2; }
DIST=$(cd "$DIST" && pwd)

"$DIST/down.sh" "$RUN" >/dev/null 2>&1 || true
rm -rf "$RUN/etcd-data" # every run starts from an empty Arktos
trap '"$DIST/down.sh" "$RUN"' EXIT
started=$(date +%s)
"$DIST/up.sh" "$RUN"
echo "make test-arktos: Arktos up in $(($(date +%s) - started)) s"
# shellcheck disable=SC1091
source "$RUN/arktos.env"
export E2E_BACKEND=arktos
# The stacks' and the node agent's logs stay in $RUN/pytest for a look after a failure.
[ "$#" -gt 0 ] || set -- tests/e2e
.venv/bin/pytest -q -ra --basetemp="$RUN/pytest" "$@"
