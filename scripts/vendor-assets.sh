#!/usr/bin/env bash
# Refresh the vendored front-end libraries from the npm registry (versions in
# src/planungsdaten/web/package.json). The service never loads assets from a CDN.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
web="$here/src/planungsdaten/web"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$web/package.json" "$tmp/"
(cd "$tmp" && npm install --silent --no-audit --no-fund)
dest="$web/static/vendor/swagger-ui"
mkdir -p "$dest"
for f in swagger-ui-bundle.js swagger-ui.css LICENSE NOTICE favicon-32x32.png oauth2-redirect.html; do
  cp "$tmp/node_modules/swagger-ui-dist/$f" "$dest/"
done
echo "vendored swagger-ui-dist into $dest"
