#!/bin/sh
# Installs the Debian packages a step needs, and only the missing ones, so `make run` and
# `make test` work on a fresh Debian 12 machine and cost nothing on a prepared one.
#   scripts/deps.sh build|test|bench|fuzz
set -eu

build="build-essential pkg-config libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libssl-dev libyaml-dev libssh2-1-dev libhiredis-dev"
# kubernetes-client: kubectl (1.20, with `kubectl kustomize`) for the manifests test; systemd:
# systemd-analyze for the units test; chromium: the console's browser tests (playwright-core
# drives /usr/bin/chromium, headless).
test="$build libcmocka-dev nodejs npm curl clang-format openssh-server redis-server openssl kubernetes-client systemd chromium"
bench="wrk nginx-light curl"
# make fuzz: clang with libFuzzer and the sanitizers' runtimes (Debian 12: LLVM 14).
fuzz="$build clang libclang-rt-14-dev"

case "${1:-build}" in
build) want=$build ;;
test) want=$test ;;
bench) want=$bench ;;
fuzz) want=$fuzz ;;
*) echo "usage: scripts/deps.sh build|test|bench|fuzz" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	# A tool already on PATH (Node from another source, say) counts as present.
	case $p in
	nodejs) command -v node >/dev/null 2>&1 && continue ;;
	npm) command -v npm >/dev/null 2>&1 && continue ;;
	kubernetes-client) command -v kubectl >/dev/null 2>&1 && continue ;;
	systemd) command -v systemd-analyze >/dev/null 2>&1 && continue ;;
	esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
else
	echo "deps: missing Debian packages:$missing — install them as root (apt-get install$missing)" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >&2
