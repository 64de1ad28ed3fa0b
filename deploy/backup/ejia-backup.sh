#!/usr/bin/env bash
# e家 backup: the database (pg_dump, custom format) and the media files, into one dated directory.
#
#   DATABASE_URL=postgresql://… MEDIA_DIR=/var/lib/ejia/media BACKUP_DIR=/var/backups/ejia ejia-backup.sh
#
# The dump is consistent on its own (one snapshot). Media files are content-addressed and never
# change once written, so copying them after the dump can only add files the dump does not
# reference yet — harmless. Keeps BACKUP_KEEP_DAYS (default 30) of backups. Prints the directory.
set -euo pipefail
: "${DATABASE_URL:?DATABASE_URL is not set}"
: "${MEDIA_DIR:?MEDIA_DIR is not set}"
: "${BACKUP_DIR:?BACKUP_DIR is not set}"
KEEP_DAYS="${BACKUP_KEEP_DAYS:-30}"
url="${DATABASE_URL/+pool/}"              # postgresql+pool:// is the app's; pg_dump wants postgresql://
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
target="$BACKUP_DIR/$stamp"
umask 077                                 # phones and ID numbers are encrypted, but still
mkdir -p "$target.partial"
pg_dump --format=custom --compress=6 --no-owner --file="$target.partial/ejia.dump" "$url"
if [ -d "$MEDIA_DIR" ]; then
  tar -C "$MEDIA_DIR" -cf "$target.partial/media.tar" .
else
  tar -cf "$target.partial/media.tar" --files-from /dev/null
fi
( cd "$target.partial" && sha256sum ejia.dump media.tar > SHA256SUMS )
mv "$target.partial" "$target"            # a complete backup or none: the name appears last
find "$BACKUP_DIR" -mindepth 1 -maxdepth 1 -type d -name '20*' -mtime +"$KEEP_DAYS" -exec rm -rf {} +
echo "$target"
