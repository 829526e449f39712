#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests when /usr/bin/chromium is missing.
# Playwright drives it through executable_path; `playwright install` is never used.
set -euo pipefail

[ -x /usr/bin/chromium ] && exit 0

install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
if ! apt-cache show chromium >/dev/null 2>&1 || ! install; then
  apt-get update -qq
  install
fi
test -x /usr/bin/chromium
