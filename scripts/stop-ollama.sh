#!/usr/bin/env bash
# Stops the Ollama that scripts/start-ollama.sh started, whichever profile it runs under.
#
#   scripts/stop-ollama.sh [--cleanup [--yes]] [--dry-run]
#
# Ollama gets KG_OLLAMA_STOP_TIMEOUT seconds (default 30) to finish requests in flight before
# Docker kills it. --cleanup also deletes the models volume, i.e. every pulled model, after a
# confirmation unless --yes.
set -euo pipefail

# Every profile of the compose file: `down` only sees the services of the profiles it is given,
# and the script does not know which one start-ollama.sh picked.
readonly PROFILES=(nvidia amd intel cpu)

if [[ ${BASH_SOURCE[0]} == */* ]]; then script_dir=${BASH_SOURCE[0]%/*}; else script_dir=.; fi
repo_root=$(cd "$script_dir/.." && pwd)
compose_file=$repo_root/compose/docker-compose.ollama.yml

die() {
  echo "stop-ollama: $*" >&2
  exit 1
}

usage() {
  printf '%s\n' \
    "usage: scripts/stop-ollama.sh [--cleanup [--yes]] [--dry-run]" \
    "Stops Ollama (any profile). --cleanup also deletes the pulled models (asks first unless" \
    "--yes). --dry-run prints the command without running it."
}

cleanup=false assume_yes=false dry_run=false
while (($#)); do
  case $1 in
    --cleanup) cleanup=true ;;
    --yes | -y) assume_yes=true ;;
    --dry-run) dry_run=true ;;
    -h | --help) usage && exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done

stop_timeout=${KG_OLLAMA_STOP_TIMEOUT:-30}
[[ $stop_timeout =~ ^[0-9]+$ ]] || die "KG_OLLAMA_STOP_TIMEOUT must be a number of seconds, not '$stop_timeout'"

command=(docker compose -f "$compose_file")
for profile in "${PROFILES[@]}"; do command+=(--profile "$profile"); done
command+=(down --timeout "$stop_timeout")
if $cleanup; then command+=(--volumes); fi

if $dry_run; then
  if $cleanup && ! $assume_yes; then echo "would ask before deleting the models volume"; fi
  echo "+ ${command[*]}"
  exit 0
fi

command -v docker >/dev/null \
  || die "docker not found: nothing started by start-ollama.sh can be running without it"

if $cleanup && ! $assume_yes; then
  [[ -t 0 ]] || die "--cleanup deletes every pulled model; pass --yes to confirm without a terminal"
  read -r -p "Delete the Ollama models volume (every pulled model)? [y/N] " answer
  [[ $answer == [yY]* ]] || die "cancelled; nothing was stopped or deleted"
fi

"${command[@]}"
