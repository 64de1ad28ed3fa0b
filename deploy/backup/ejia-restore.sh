#!/usr/bin/env bash
# e家 restore: a backup directory made by ejia-backup.sh back into a database and a media directory.
#
#   DATABASE_URL=postgresql://… MEDIA_DIR=/var/lib/ejia/media ejia-restore.sh /var/backups/ejia/20260301T023000Z
#
# Stop ejia-web, ejia-worker@* and ejia-scheduler first. The database named in DATABASE_URL is
# dropped and created again (connect as a role allowed to create databases), then the dump is
# restored into it; the media files are unpacked over MEDIA_DIR (files are content-addressed, so
# nothing newer is overwritten with something else). Checksums are verified before anything is
# touched. Afterwards: python -m server migrate (when the backup is older than the code), then
# python -m server check, then start the services.
set -euo pipefail
: "${DATABASE_URL:?DATABASE_URL is not set}"
: "${MEDIA_DIR:?MEDIA_DIR is not set}"
source_dir="${1:?usage: ejia-restore.sh BACKUP_DIRECTORY}"
( cd "$source_dir" && sha256sum --check --quiet SHA256SUMS )
url="${DATABASE_URL/+pool/}"
name="${url##*/}"; name="${name%%\?*}"
admin_url="${url%/*}/postgres"
psql --quiet --no-psqlrc "$admin_url" -v ON_ERROR_STOP=1 \
  -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$name' AND pid <> pg_backend_pid();" \
  -c "DROP DATABASE IF EXISTS \"$name\";" -c "CREATE DATABASE \"$name\";" > /dev/null
pg_restore --no-owner --exit-on-error --dbname="$url" "$source_dir/ejia.dump"
mkdir -p "$MEDIA_DIR"
tar -C "$MEDIA_DIR" -xf "$source_dir/media.tar"
echo "restored $source_dir into $name and $MEDIA_DIR"
