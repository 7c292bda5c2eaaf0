#!/bin/sh
# The executable a CGI web server runs: Apache (ScriptAlias / AddHandler cgi-script with
# Options +ExecCGI), lighttpd (cgi.assign = ( ".cgi" => "" )), or any CGI/1.1 server.
#
# Edit the two paths for your install. The web server runs this as its own user (www-data on
# Debian) with an environment of CGI variables only: no HOME, often a minimal PATH. Deno needs
# a cache directory that user can read (and should write), so DENO_DIR and HOME are set here.
# Fill the cache once, as that user, so no request pays for it:
#
#   sudo -u www-data env DENO_DIR=/var/cache/deno-cgi deno cache --no-config /srv/app/app.ts
#
# Flags: --no-prompt (a prompt would hang the request), --no-config (no deno.json lookup from
# the web server's working directory) and --allow-env (serveCgi reads the CGI variables);
# add what the app itself needs (e.g. --allow-read=/srv/app/data). Nothing reads the command
# line: a query string without "=" that a server passes as arguments (RFC 3875 section 4.4)
# is ignored.
APP=/srv/app/examples/cgi/app.ts
export DENO_DIR=/var/cache/deno-cgi
export HOME="$DENO_DIR"
export NO_COLOR=1
exec /usr/bin/deno run --quiet --no-prompt --no-config --allow-env "$APP"
