#!/usr/bin/env bash
# Starts Ollama in Docker for the accelerator this host has, waits until it answers and pulls the
# extraction model, so that an endpoints file can point at http://HOST:${OLLAMA_PORT:-11434}.
#
#   scripts/start-ollama.sh [--profile nvidia|amd|intel|cpu] [--model NAME] [--dry-run]
#
# Profile: --profile, else KG_OLLAMA_PROFILE, else detected: an nvidia-smi that lists a GPU ->
# nvidia; /dev/kfd or rocm-smi -> amd; an Intel (vendor 0x8086) display device and /dev/dri ->
# intel; otherwise cpu.
# Model: --model, else KG_OLLAMA_MODEL, else the model of the active extraction configuration
# when Ollama serves it (`kg admin extraction show --field model_name`, when kg is on PATH),
# else qwen2.5:7b-instruct.
# OLLAMA_PORT and OLLAMA_RENDER_GROUP come from the environment, else compose/.env, as compose
# reads them. KG_OLLAMA_WAIT_SECONDS bounds the wait for the server (default 180).
# KG_DEV_ROOT prefixes the /dev and /sys paths that detection reads, so that tests can stage a
# machine in a temporary folder.
set -euo pipefail

readonly PROFILES=(nvidia amd intel cpu)
readonly DEFAULT_MODEL=qwen2.5:7b-instruct

# Builtins only up to the docker calls: detection must work with a bare PATH (tests run it so).
if [[ ${BASH_SOURCE[0]} == */* ]]; then script_dir=${BASH_SOURCE[0]%/*}; else script_dir=.; fi
repo_root=$(cd "$script_dir/.." && pwd)
compose_file=$repo_root/compose/docker-compose.ollama.yml
env_file=$repo_root/compose/.env
dev_root=${KG_DEV_ROOT:-}

die() {
  echo "start-ollama: $*" >&2
  exit 1
}

usage() {
  printf '%s\n' \
    "usage: scripts/start-ollama.sh [--profile nvidia|amd|intel|cpu] [--model NAME] [--dry-run]" \
    "Starts Ollama in Docker for this host's GPU (detected unless --profile or KG_OLLAMA_PROFILE" \
    "says which) and pulls the model (--model, KG_OLLAMA_MODEL, the active kg configuration," \
    "or $DEFAULT_MODEL). --dry-run prints the profile and the commands without running them."
}

# A compose variable as compose sees it: the environment first, then compose/.env.
compose_setting() {
  local name=$1 default=$2 line value=""
  if [[ -n ${!name:-} ]]; then
    printf '%s' "${!name}"
    return
  fi
  if [[ -r $env_file ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
      if [[ $line =~ ^[[:space:]]*${name}=(.*)$ ]]; then value=${BASH_REMATCH[1]}; fi
    done <"$env_file"
    value=${value%\"} value=${value#\"}
  fi
  printf '%s' "${value:-$default}"
}

is_profile() {
  local known
  for known in "${PROFILES[@]}"; do [[ $1 == "$known" ]] && return 0; done
  return 1
}

has_intel_gpu() {
  local vendor_file line
  [[ -d $dev_root/dev/dri ]] || return 1
  for vendor_file in "$dev_root"/sys/class/drm/card*/device/vendor; do
    [[ -r $vendor_file && $(<"$vendor_file") == 0x8086 ]] && return 0
  done
  command -v lspci >/dev/null || return 1
  while IFS= read -r line; do
    [[ ${line,,} =~ (vga|display|3d).*\[8086: ]] && return 0
  done < <(lspci -nn 2>/dev/null)
  return 1
}

# Sets profile and profile_reason. nvidia-smi must also run: an installed tool whose driver is
# missing (a common state after a kernel update) means no usable GPU.
detect_profile() {
  if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    profile=nvidia profile_reason="nvidia-smi lists a GPU"
  elif [[ -e $dev_root/dev/kfd ]]; then
    profile=amd profile_reason="/dev/kfd exists (ROCm)"
  elif command -v rocm-smi >/dev/null; then
    profile=amd profile_reason="rocm-smi is installed"
  elif has_intel_gpu; then
    profile=intel profile_reason="Intel display device with /dev/dri"
  else
    profile=cpu profile_reason="no NVIDIA, AMD or Intel GPU found"
  fi
}

# The model of the active extraction configuration, if kg is installed and that configuration
# is served by Ollama (a vLLM model name means nothing to `ollama pull`).
active_ollama_model() {
  local provider name
  command -v kg >/dev/null || return 1
  provider=$(kg admin extraction show --field provider 2>/dev/null) || return 1
  [[ ${provider%%$'\n'*} == ollama ]] || return 1
  name=$(kg admin extraction show --field model_name 2>/dev/null) || return 1
  name=${name%%$'\n'*}
  printf '%s' "${name// /}"
}

# Sets model and model_source unless --model already set model.
resolve_model() {
  local configured=""
  if [[ -n $model ]]; then
    model_source="--model"
  elif [[ -n ${KG_OLLAMA_MODEL:-} ]]; then
    model=$KG_OLLAMA_MODEL model_source=KG_OLLAMA_MODEL
  elif configured=$(active_ollama_model) && [[ -n $configured ]]; then
    model=$configured model_source="kg admin extraction show"
  else
    model=$DEFAULT_MODEL model_source=default
  fi
  # The name goes into a JSON body; Ollama names never need quoting, so refuse what would.
  [[ $model =~ ^[A-Za-z0-9][A-Za-z0-9._:/-]*$ ]] || die "invalid model name '$model' (from $model_source)"
}

# The command as one would type it: words with shell-special characters in single quotes.
shown() {
  local word words=()
  for word in "$@"; do
    if [[ $word =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then words+=("$word"); else words+=("'$word'"); fi
  done
  printf '+ %s\n' "${words[*]}"
}

check_tools() {
  command -v docker >/dev/null \
    || die "docker not found: install Docker Engine with the compose plugin (https://docs.docker.com/engine/install/), or use the embedded model instead (kg local start)"
  docker compose version >/dev/null 2>&1 \
    || die "'docker compose' does not work: install the compose plugin (https://docs.docker.com/compose/install/linux/)"
  command -v curl >/dev/null || die "curl not found: install curl (apt-get install curl)"
  [[ -r $compose_file ]] || die "missing $compose_file"
}

wait_for_ollama() {
  local url=$1 limit=$2 waited=0
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    if ((waited >= limit)); then
      die "Ollama did not answer at $url within ${limit}s; its log: docker compose -f $compose_file --profile $profile logs"
    fi
    sleep 2
    waited=$((waited + 2))
  done
}

profile=${KG_OLLAMA_PROFILE:-}
profile_reason=${profile:+"KG_OLLAMA_PROFILE"}
model="" model_source=""
dry_run=false
while (($#)); do
  case $1 in
    --profile)
      (($# >= 2)) || die "--profile needs a value: one of ${PROFILES[*]}"
      profile=$2 profile_reason="--profile"
      shift 2
      ;;
    --profile=*) profile=${1#*=} profile_reason="--profile" && shift ;;
    --model)
      (($# >= 2)) || die "--model needs a value, e.g. --model $DEFAULT_MODEL"
      model=$2
      shift 2
      ;;
    --model=*) model=${1#*=} && shift ;;
    --dry-run) dry_run=true && shift ;;
    -h | --help) usage && exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

if [[ -n $profile ]]; then
  is_profile "$profile" || die "unknown profile '$profile' (from $profile_reason): choose one of ${PROFILES[*]}"
else
  detect_profile
fi
resolve_model

port=$(compose_setting OLLAMA_PORT 11434)
base_url=http://127.0.0.1:$port
wait_seconds=${KG_OLLAMA_WAIT_SECONDS:-180}
compose=(docker compose -f "$compose_file" --profile "$profile")
pull_body="{\"model\":\"$model\",\"stream\":false}"

echo "profile: $profile ($profile_reason)"
echo "model: $model ($model_source)"

if [[ $profile == amd && -z $(compose_setting OLLAMA_RENDER_GROUP "") ]] && command -v getent >/dev/null; then
  render_line=$(getent group render || true)
  IFS=: read -r _ _ render_gid _ <<<"$render_line"
  if [[ -n ${render_gid:-} ]]; then
    export OLLAMA_RENDER_GROUP=$render_gid
    echo "render group: GID $render_gid (host's 'render')"
  fi
fi

if $dry_run; then
  command -v docker >/dev/null || echo "note: docker not found; a real run would stop here" >&2
  shown "${compose[@]}" up -d
  echo "+ wait until $base_url/api/tags answers (up to ${wait_seconds}s)"
  shown curl -sS --fail-with-body "$base_url/api/pull" -d "$pull_body"
  exit 0
fi

check_tools
"${compose[@]}" up -d
echo "waiting for Ollama at $base_url ..."
wait_for_ollama "$base_url/api/tags" "$wait_seconds"
# Through the HTTP API rather than `docker exec`: it works whatever the container is called.
echo "pulling $model (a first pull downloads gigabytes and can take minutes) ..."
if ! response=$(curl -sS --fail-with-body "$base_url/api/pull" -d "$pull_body" 2>&1); then
  die "pull of '$model' failed: ${response//$'\n'/ } (check the name at https://ollama.com/library, or pass --model)"
fi
echo "ready: $model at $base_url (profile $profile)"
