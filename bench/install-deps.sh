#!/usr/bin/env bash
# Installs the Debian packages bench/run needs beyond tools/install-deps.sh, when they are
# missing: matplotlib (bench/report.py's plot), with --nchan nginx and Nchan, with
# --mariadb the MariaDB server (the herald-json-mariadb peer's throwaway database server).
# Idempotent; uses sudo when not root. Usage: bench/install-deps.sh [--nchan] [--mariadb]
set -euo pipefail
SUDO=""
[[ $(id -u) != 0 ]] && SUDO=sudo
log() { echo "[bench] $*" >&2; }
updated=0
apt_update() { ((updated)) || { $SUDO apt-get update -qq; updated=1; }; }
apt_install() {
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [[ " $* " == *" --mariadb "* ]] && ! command -v mariadbd >/dev/null 2>&1 &&
   [[ ! -x /usr/sbin/mariadbd ]]; then
  log "installing mariadb-server"
  apt_update
  apt_install mariadb-server
fi

if [[ " $* " == *" --nchan "* ]]; then
  missing=()
  command -v nginx >/dev/null 2>&1 || missing+=(nginx)
  [[ -f /usr/lib/nginx/modules/ngx_nchan_module.so ]] || missing+=(libnginx-mod-nchan)
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt_update
    apt_install "${missing[@]}"
  fi
fi

if ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  # Not `apt-get install python3-matplotlib` in one step: with libboost1.81-dev installed
  # (Herald's Boost), apt fails to resolve it. python3-fonttools depends on
  # "python3-scipy | python3-munkres"; apt tries scipy, whose python3-pythran needs
  # libboost-dev (1.74, conflicts with 1.81), and gives up instead of taking munkres.
  # Asked for matplotlib's direct dependencies first, apt picks the alternative that fits;
  # matplotlib itself then installs.
  apt_update
  deps=$(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
           --no-replaces --no-enhances python3-matplotlib |
         awk '$1 == "Depends:" && $2 !~ /^</ { print $2 }' | sort -u)
  # shellcheck disable=SC2086  # one word per package
  log "installing matplotlib's dependencies: $(echo $deps)"
  # shellcheck disable=SC2086
  apt_install $deps
  log "installing python3-matplotlib"
  apt_install python3-matplotlib
  /usr/bin/python3 -c 'import matplotlib' || { log "matplotlib still missing"; exit 1; }
fi
