#!/usr/bin/env bash
# Reproducibly vendor the offline CSS/font assets served from Dash's assets/ folder.
#
#   bash scripts/vendor_assets.sh          # (re)build assets/vendor/ from the npm registry
#   bash scripts/vendor_assets.sh --check  # only verify the files already in assets/vendor/
#
# The wall display runs on an intranet with no internet access, so nothing in
# assets/ may make the browser fetch an external URL (no CDN, no Google Fonts).
# This script:
#   1. `npm pack`s pinned package versions into a temp dir and checks their sha512
#      integrity against the values pinned below;
#   2. copies Bootswatch "darkly" bootstrap.min.css and the bootstrap-icons CSS + fonts;
#   3. strips every @import of an http(s) / protocol-relative URL (Bootswatch
#      pulls the Lato web font from Google Fonts that way) and the sourceMappingURL
#      comment, and rewrites licence-comment URLs as plain text without a scheme;
#   4. fails if any remaining URL could be fetched by a browser or if a naive grep
#      for CDN host names finds anything.
# See assets/vendor/PROVENANCE.md.
set -euo pipefail

BOOTSWATCH_VERSION="5.3.8"
BOOTSWATCH_THEME="darkly"
BOOTSWATCH_INTEGRITY="sha512-88mnH9tv+x6DV+scBxYFOpM4YSDVhyfEgbhqaEfvkHNctKI9qRcACxIP9nmBZ5mSeLXtsgax1VsRkUs1eWjlAQ=="
ICONS_VERSION="1.13.2"
ICONS_INTEGRITY="sha512-fAU1Ly3dH7hwRg+CB8EZ0Vl0fF80zgXHeUVJyfUOKzoURr+TbwISbCW5tKUoQLERaWYG2emTCybcPbD96hdD1A=="

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/assets/vendor"
BS_CSS="$VENDOR/bootswatch-$BOOTSWATCH_THEME.min.css"
ICONS_DIR="$VENDOR/bootstrap-icons"

die() { echo "vendor_assets: ERROR: $*" >&2; exit 1; }

# Verify that no vendored file can make a browser reach outside the intranet.
check() {
    local css fail=0
    [ -s "$BS_CSS" ] || die "missing $BS_CSS"
    [ -s "$ICONS_DIR/bootstrap-icons.min.css" ] || die "missing $ICONS_DIR/bootstrap-icons.min.css"
    [ -s "$ICONS_DIR/fonts/bootstrap-icons.woff2" ] || die "missing bootstrap-icons.woff2"
    [ -s "$ICONS_DIR/fonts/bootstrap-icons.woff" ] || die "missing bootstrap-icons.woff"
    for css in "$BS_CSS" "$ICONS_DIR/bootstrap-icons.min.css"; do
        # any @import at all (vendored files must be self-contained)
        if grep -q '@import' "$css"; then echo "  @import left in $css" >&2; fail=1; fi
        # url(http...), url(//host...) - fetched by the browser
        if grep -Eiq "url\(\s*[\"']?(https?:)?//" "$css"; then
            echo "  absolute url() left in $css" >&2; fail=1
        fi
        # any scheme other than the SVG namespace inside inline data: URIs
        # (xmlns='http://www.w3.org/2000/svg' is an identifier, never fetched)
        if grep -Eo 'https?://[^ )"'\'';]*' "$css" | grep -vq '^http://www\.w3\.org/2000/svg$'; then
            echo "  http(s) URL left in $css:" >&2
            grep -Eo 'https?://[^ )"'\'';]*' "$css" | grep -v '^http://www\.w3\.org/2000/svg$' | sort -u >&2
            fail=1
        fi
        if grep -q 'sourceMappingURL' "$css"; then echo "  sourceMappingURL left in $css" >&2; fail=1; fi
    done
    if grep -rEil 'cdn|googleapis|gstatic|jsdelivr|unpkg|cloudflare' "$VENDOR"; then
        echo "  CDN host name found in the files above" >&2; fail=1
    fi
    [ "$fail" = 0 ] || die "offline check failed"
    echo "vendor_assets: offline check OK"
}

if [ "${1:-}" = "--check" ]; then check; exit 0; fi

command -v npm >/dev/null || die "npm not found (apt-get install npm)"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

fetch() {  # fetch NAME VERSION INTEGRITY -> extracts to $TMP/NAME/package
    local name="$1" version="$2" integrity="$3" tgz actual
    (cd "$TMP" && npm pack --silent "$name@$version" >/dev/null)
    tgz="$TMP/$name-$version.tgz"
    [ -f "$tgz" ] || die "npm pack did not produce $tgz"
    actual="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 | tr -d '\n')"
    [ "$actual" = "$integrity" ] || die "$name@$version integrity mismatch: $actual"
    mkdir -p "$TMP/$name"
    tar -xzf "$tgz" -C "$TMP/$name"
}

# Make a CSS file offline-safe (in place).
sanitize_css() {
    local f="$1"
    perl -0pi -e '
        # @import url(http...) ... ;   (URL may itself contain ";", e.g. Google Fonts)
        s{\@import\s+url\(\s*["\x27]?(?:https?:)?//[^)]*\)[^;]*;}{}gi;
        # @import "http..." ... ;
        s{\@import\s+(["\x27])(?:https?:)?//.*?\1[^;]*;}{}gi;
        # source-map comment
        s{/\*#\s*sourceMappingURL=[^*]*\*/}{}g;
        # licence comments: drop the scheme so nothing looks fetchable;
        # keep the SVG namespace used inside inline data: URIs
        s{https?://(?!www\.w3\.org/2000/svg)}{}gi;
    ' "$f"
}

echo "vendor_assets: packing bootswatch@$BOOTSWATCH_VERSION, bootstrap-icons@$ICONS_VERSION"
fetch bootswatch "$BOOTSWATCH_VERSION" "$BOOTSWATCH_INTEGRITY"
fetch bootstrap-icons "$ICONS_VERSION" "$ICONS_INTEGRITY"

BS_PKG="$TMP/bootswatch/package"
IC_PKG="$TMP/bootstrap-icons/package"

# Only replace the files this script owns (PROVENANCE.md is kept).
rm -f "$VENDOR"/bootswatch-*.min.css "$VENDOR"/LICENSE-bootswatch.txt
rm -rf "$ICONS_DIR"
mkdir -p "$ICONS_DIR/fonts"

cp "$BS_PKG/dist/$BOOTSWATCH_THEME/bootstrap.min.css" "$BS_CSS"
cp "$BS_PKG/LICENSE" "$VENDOR/LICENSE-bootswatch.txt"
cp "$IC_PKG/font/bootstrap-icons.min.css" "$ICONS_DIR/bootstrap-icons.min.css"
cp "$IC_PKG/font/fonts/bootstrap-icons.woff2" "$IC_PKG/font/fonts/bootstrap-icons.woff" "$ICONS_DIR/fonts/"
cp "$IC_PKG/LICENSE" "$ICONS_DIR/LICENSE.txt"

sanitize_css "$BS_CSS"
sanitize_css "$ICONS_DIR/bootstrap-icons.min.css"
# licence texts are not CSS but keep them scheme-free too
perl -pi -e 's{https?://}{}gi' "$VENDOR/LICENSE-bootswatch.txt" "$ICONS_DIR/LICENSE.txt"

check
ls -l "$VENDOR" "$ICONS_DIR" "$ICONS_DIR/fonts"
