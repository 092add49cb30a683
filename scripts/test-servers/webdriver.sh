#!/usr/bin/env bash
# webdriver.sh start|stop DIR PORT
#
# ChromeDriver on 127.0.0.1:PORT for the web workspace's browser tests,
# driving Debian's headless Chromium (packages chromium and chromium-driver,
# installed by apt-get when missing: a downloaded browser build does not run
# here). The tests start each browser session themselves with the flags a
# closed network needs (tests/web_browser.rs). Logs in DIR/chromedriver.log;
# stop only signals the pid in DIR/chromedriver.pid.
set -euo pipefail

die() { echo "webdriver.sh: error: $*" >&2; exit 1; }
log() { echo "webdriver.sh: $*" >&2; }
[ $# -eq 3 ] || { echo "usage: $0 start|stop DIR PORT" >&2; exit 2; }
ACTION=$1; DIR=$2; PORT=$3

case "$ACTION" in
  start)
    if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
      log "installing Debian's chromium and chromium-driver"
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      $SUDO env DEBIAN_FRONTEND=noninteractive flock -w 900 /tmp/recipes-apt.lock sh -c \
        'apt-get install -y -qq --no-install-recommends chromium chromium-driver || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver; }'
    fi
    mkdir -p "$DIR"
    chromedriver --port="$PORT" --allowed-ips=127.0.0.1 --log-path="$DIR/chromedriver.log" >/dev/null 2>&1 &
    echo $! > "$DIR/chromedriver.pid"
    for _ in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        log "started chromedriver (pid $(cat "$DIR/chromedriver.pid")) on 127.0.0.1:$PORT for $(chromium --version 2>/dev/null || echo chromium)"
        exit 0
      fi
      sleep 0.1
    done
    die "chromedriver did not listen on 127.0.0.1:$PORT within 10 s (see $DIR/chromedriver.log)"
    ;;
  stop)
    [ -f "$DIR/chromedriver.pid" ] && kill "$(cat "$DIR/chromedriver.pid")" 2>/dev/null || true
    ;;
  *) echo "usage: $0 start|stop DIR PORT" >&2; exit 2 ;;
esac
