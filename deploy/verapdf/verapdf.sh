#!/usr/bin/env bash
# veraPDF's command line, for checking PDFs against PDF/UA-1 (ISO 14289-1) and PDF/A.
# The jars come from Maven Central (deploy/verapdf/pom.xml), cached once in
# ${WORKLINK_VERAPDF_LIB:-$HOME/.cache/worklink/verapdf-<version>/lib}. Needs Java 11+ and Maven.
#
# Usage: verapdf.sh [veraPDF options] FILE...   e.g. verapdf.sh -f ua1 --format text letter.pdf
# (prints PASS or FAIL and each failed rule per file; exits non-zero when a file fails)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$SCRIPT_DIR/pom.xml"
VERSION="$(sed -n 's:.*<verapdf.version>\(.*\)</verapdf.version>.*:\1:p' "$POM" | head -n1)"
LIB_DIR="${WORKLINK_VERAPDF_LIB:-$HOME/.cache/worklink/verapdf-$VERSION/lib}"
JAVA="${JAVA:-${JAVA_HOME:+$JAVA_HOME/bin/}java}"
MVN="${MVN:-mvn}"

if [ ! -f "$LIB_DIR/.complete" ]; then
  command -v "$MVN" >/dev/null 2>&1 || { echo "verapdf.sh: maven ($MVN) not found" >&2; exit 1; }
  echo "verapdf.sh: resolving veraPDF $VERSION into $LIB_DIR (one-time)" >&2
  mkdir -p "$(dirname "$LIB_DIR")"
  tmp="$(mktemp -d "$(dirname "$LIB_DIR")/.lib.XXXXXX")"
  "$MVN" -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" >&2 \
    || { rm -rf "$tmp"; echo "verapdf.sh: mvn dependency:copy-dependencies failed" >&2; exit 1; }
  touch "$tmp/.complete"
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR" 2>/dev/null || rm -rf "$tmp"  # another run may have installed it first
fi
exec "$JAVA" -Xmx512m -cp "$LIB_DIR/*" org.verapdf.apps.GreenfieldCliWrapper "$@"
