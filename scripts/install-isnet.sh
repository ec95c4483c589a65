#!/usr/bin/env bash
# Installs the ISNet "medium" salient-object model (fp16 ONNX) that org.imagenete.edit.automask.IsNetMasker
# runs to make object masks for images that have none. The model is never committed: it is fetched from the
# npm package @imgly/background-removal-data 1.4.5 (the same file that made testdata/data/animals/masks).
#
#   scripts/install-isnet.sh            install into $IMAGENETE_CACHE/isnet (default ~/.cache/imagenete/isnet)
#   scripts/install-isnet.sh --force    fetch and install again even when a good copy is there
#
# What it does: `npm pack` downloads the package tarball (136 MB; npm keeps its own copy in ~/.npm), the tarball
# is unpacked in a temporary folder, dist/resources.json lists the model "/models/medium" as 4 MiB chunks named
# by their sha256, the chunks are checked and concatenated, the result is checked against the sha256 below and
# moved into place (so a reader never sees a partial file). Needs node/npm (npm reaches registry.npmjs.org or
# whatever registry npm is configured with), tar and ~300 MB of temporary space next to the cache.
#
# Licences: the ISNet weights are MIT (DIS, xuebinqin/DIS), as the package's ThirdPartyLicenses.json states; the
# package itself (img.ly's code and packaging) is AGPL-3.0. Both files are copied next to the model.
set -euo pipefail

PKG="@imgly/background-removal-data"
VERSION="1.4.5"
RESOURCE="/models/medium"
MODEL_SHA256="b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb"
MODEL_SIZE=88188479

force=0
case "${1:-}" in
  "") ;;
  --force) force=1 ;;
  -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "install-isnet: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

root="${IMAGENETE_CACHE:-$HOME/.cache/imagenete}"
dir="$root/isnet"
model="$dir/isnet_medium.onnx"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ "$force" = 0 ] && [ -f "$model" ]; then
  if [ "$(sha256_of "$model")" = "$MODEL_SHA256" ]; then
    echo "install-isnet: already installed: $model (sha256 $MODEL_SHA256)"
    exit 0
  fi
  echo "install-isnet: $model has the wrong checksum; installing again" >&2
fi

for tool in npm node tar sha256sum; do
  command -v "$tool" >/dev/null || { echo "install-isnet: needs '$tool' on the PATH" >&2; exit 1; }
done

mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

start=$(date +%s)
echo "install-isnet: npm pack $PKG@$VERSION (136 MB) ..." >&2
tgz=$(cd "$tmp" && npm pack "$PKG@$VERSION" --silent | tail -n 1)
[ -f "$tmp/$tgz" ] || { echo "install-isnet: npm pack produced no tarball" >&2; exit 1; }
tar -xzf "$tmp/$tgz" -C "$tmp" package/dist package/LICENSE.md package/ThirdPartyLicenses.json
rm -f "$tmp/$tgz"

# Reassemble: every chunk's sha256 must equal its file name, the offsets must tile [0, size) in order.
node - "$tmp/package/dist" "$RESOURCE" "$tmp/isnet_medium.onnx" <<'JS'
const fs = require('fs'), path = require('path'), crypto = require('crypto');
const [dist, key, outFile] = process.argv.slice(2);
const res = JSON.parse(fs.readFileSync(path.join(dist, 'resources.json'), 'utf8'))[key];
if (!res) throw new Error(`resources.json has no entry ${key}`);
const out = fs.openSync(outFile, 'w');
let pos = 0;
for (const c of res.chunks) {
  const b = fs.readFileSync(path.join(dist, c.hash));
  const h = crypto.createHash('sha256').update(b).digest('hex');
  if (h !== c.hash) throw new Error(`chunk ${c.hash} has sha256 ${h}`);
  if (c.offsets[0] !== pos || c.offsets[1] !== pos + b.length)
    throw new Error(`chunk ${c.hash} at [${c.offsets}] does not follow byte ${pos} (${b.length} bytes)`);
  fs.writeSync(out, b);
  pos += b.length;
}
fs.fsyncSync(out);
fs.closeSync(out);
if (pos !== res.size) throw new Error(`reassembled ${pos} bytes, resources.json says ${res.size}`);
JS

size=$(stat -c %s "$tmp/isnet_medium.onnx")
sum=$(sha256_of "$tmp/isnet_medium.onnx")
if [ "$size" != "$MODEL_SIZE" ] || [ "$sum" != "$MODEL_SHA256" ]; then
  echo "install-isnet: reassembled model is $size bytes, sha256 $sum; expected $MODEL_SIZE bytes, $MODEL_SHA256" >&2
  exit 1
fi

cp "$tmp/package/LICENSE.md" "$dir/LICENSE-background-removal-data.md"
cp "$tmp/package/ThirdPartyLicenses.json" "$dir/ThirdPartyLicenses.json"
echo "$MODEL_SHA256  isnet_medium.onnx" > "$dir/isnet_medium.onnx.sha256"
mv -f "$tmp/isnet_medium.onnx" "$model"
echo "install-isnet: installed $model ($size bytes, sha256 $sum) in $(( $(date +%s) - start )) s"
