#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries are installed, for the tests in
# test/support/postgres.ts; prints their bin folder (e.g. /usr/lib/postgresql/15/bin)
# on stdout, everything else on stderr. Idempotent: installs nothing when initdb is
# already under /usr/lib/postgresql/*/bin. Otherwise installs Debian's postgresql-15
# (or `postgresql` where there is no postgresql-15) without creating or starting
# a cluster service. Needs root, or sudo.
set -euo pipefail

find_bin() {
  local dir
  # Prefer 15, then the newest other version.
  for dir in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5nr); do
    if [[ -x "$dir/initdb" && -x "$dir/postgres" ]]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

if bin=$(find_bin); then
  echo "$bin"
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "ensure-postgres: run as root (apt-get install -y postgresql-15)" >&2; exit 1; }
  sudo=(sudo)
fi

echo "ensure-postgres: installing PostgreSQL server binaries with apt-get" >&2
# No "main" cluster (postgresql-common reads createcluster.d), and no service start:
# policy-rc.d exit 101 forbids invoke-rc.d from starting anything during the install.
"${sudo[@]}" mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" | "${sudo[@]}" tee /etc/postgresql-common/createcluster.d/no-main-cluster.conf >/dev/null
policy=/usr/sbin/policy-rc.d
added_policy=
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod +x "$policy"
  added_policy=1
fi
cleanup() { if [[ -n $added_policy ]]; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
"${sudo[@]}" apt-get update -q >&2
if apt-cache show postgresql-15 >/dev/null 2>&1; then package=postgresql-15; else package=postgresql; fi
"${apt[@]}" install --no-install-recommends "$package" >&2

if ! bin=$(find_bin); then
  echo "ensure-postgres: $package installed, but no initdb under /usr/lib/postgresql/*/bin" >&2
  exit 1
fi
echo "$bin"
