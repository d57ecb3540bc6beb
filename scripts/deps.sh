#!/usr/bin/env bash
# Installs the real programs the tests drive (nc, socat, ...) when they are
# missing. Runs apt-get update once, and only if something must be installed.
set -euo pipefail

# command -> Debian package
declare -A need=(
  [nc]=netcat-openbsd
  [socat]=socat
  [redis-server]=redis-server
  [openssl]=openssl
  [sipp]=sip-tester
  [fail2ban-regex]=fail2ban
  [ip]=iproute2        # network namespaces: protected mode and remote-peer tests
  [useradd]=passwd     # throwaway users: Unix peer credentials tests
  [setpriv]=util-linux # run nc as those users
)

missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
# nc must be the OpenBSD one: -N and -U behave as the tests expect.
if command -v nc >/dev/null 2>&1 && ! nc -h 2>&1 | grep -q 'OpenBSD netcat'; then
  missing+=(netcat-openbsd)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing ${missing[*]}; run 'sudo make deps' or install them with apt-get" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
