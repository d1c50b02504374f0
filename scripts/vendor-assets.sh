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

# vendor NAME PACKAGE FILE...: copy FILEs (paths inside the npm package) to static/vendor/NAME
vendor() {
  local name=$1 package=$2 dest="$web/static/vendor/$1"
  shift 2
  rm -rf "$dest"
  mkdir -p "$dest"
  for f in "$@"; do
    mkdir -p "$dest/$(dirname "$f")"
    cp -R "$tmp/node_modules/$package/$f" "$dest/$f"
  done
  echo "vendored $package into $dest"
}

vendor swagger-ui swagger-ui-dist \
  swagger-ui-bundle.js swagger-ui-standalone-preset.js swagger-ui.css \
  favicon-32x32.png favicon-16x16.png oauth2-redirect.html LICENSE NOTICE
vendor redoc redoc \
  bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt LICENSE
vendor bootstrap bootstrap dist/css/bootstrap.min.css LICENSE
# leaflet.css finds the marker and layer icons in images/ beside it
vendor leaflet leaflet dist/leaflet.js dist/leaflet.css dist/images LICENSE
vendor leaflet.markercluster leaflet.markercluster \
  dist/leaflet.markercluster.js dist/MarkerCluster.css dist/MarkerCluster.Default.css \
  MIT-LICENCE.txt
# leaflet.vectorgrid ships no licence file: its README holds the licence (Beerware)
vendor leaflet.vectorgrid leaflet.vectorgrid dist/Leaflet.VectorGrid.bundled.js README.md
