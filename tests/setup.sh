#!/usr/bin/env bash
# Makes sure the programs the end-to-end tests start are installed (Debian packages).
# Run by `deno task test` before `deno test`. Prints nothing when all is present.
#
# Missing packages are installed with apt-get: directly as root, through `sudo -n` when
# passwordless sudo works, else the script prints the command to run and exits 1.
set -euo pipefail

# command:package pairs the tests need now.
REQUIRED=(
  "nginx:nginx"
  "apache2:apache2"
  "lighttpd:lighttpd"
  "cgi-fcgi:libfcgi-bin"
  # php-fpm is a FastCGI peer for the client tests and the benchmark reference; Debian names
  # the binary php-fpmX.Y.
  "php-fpm:php-fpm"
  "redis-server:redis-server"
  # wrk drives the end-to-end benchmark; tests/bench_e2e_test.ts runs it briefly.
  "wrk:wrk"
)

# Finds a command on PATH or in the sbin folders (a non-root PATH often lacks them).
have() {
  local name="$1" dir
  command -v "$name" >/dev/null 2>&1 && return 0
  for dir in /usr/sbin /sbin /usr/local/sbin; do
    [[ -x "$dir/$name" ]] && return 0
    # php-fpm is installed as php-fpm8.2 and the like.
    compgen -G "$dir/$name[0-9]*" >/dev/null && return 0
  done
  return 1
}

missing=()
for pair in "${REQUIRED[@]}"; do
  have "${pair%%:*}" || missing+=("${pair#*:}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

install_command="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "tests/setup.sh: missing ${missing[*]}; install them as root with:" >&2
  echo "  $install_command" >&2
  exit 1
fi

echo "tests/setup.sh: installing ${missing[*]}" >&2
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null

# A package's postinst may start the system instance; stop it so it holds no port. Only the
# pid recorded in the package's own pid file is signalled.
for service in nginx apache2 lighttpd redis-server $(cd /etc/init.d 2>/dev/null && ls -d php*-fpm 2>/dev/null); do
  "${as_root[@]}" service "$service" stop >/dev/null 2>&1 || true
done
for pid_file in /run/nginx.pid /run/apache2/apache2.pid /var/run/apache2/apache2.pid \
  /run/lighttpd.pid /run/redis/redis-server.pid /run/php/php*-fpm.pid; do
  if [[ -s "$pid_file" ]]; then
    pid=$(cat "$pid_file")
    [[ "$pid" =~ ^[0-9]+$ ]] && "${as_root[@]}" kill "$pid" >/dev/null 2>&1 || true
  fi
done

for pair in "${REQUIRED[@]}"; do
  if ! have "${pair%%:*}"; then
    echo "tests/setup.sh: ${pair%%:*} is still missing after installing ${pair#*:}" >&2
    exit 1
  fi
done
