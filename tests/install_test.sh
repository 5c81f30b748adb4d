#!/bin/bash
# `make install PREFIX=...` then build a small program against the installed copy twice: with pkg-config and with
# CMake's find_package(decar). Usage: tests/install_test.sh [BUILD_DIR]
set -u -o pipefail   # a failing program piped into sed fails the step
cd "$(dirname "$0")/.."
B=${1:-build}
P=$(pwd)/$B/install_prefix; rm -rf "$P" "$B/inst_app"; mkdir -p "$B/inst_app"
make -s install PREFIX="$P" > /dev/null || { echo "FAILED: make install"; exit 1; }
for f in include/decar.h bin/decar lib/pkgconfig/decar.pc lib/cmake/decar/decarConfig.cmake lib/cmake/decar/decarConfigVersion.cmake; do
  [ -f "$P/$f" ] || { echo "FAILED: make install did not write $f"; exit 1; }
done
cat > "$B/inst_app/app.c" <<'C'
#define DECAR_IMPLEMENTATION
#include <decar.h>
#include <stdio.h>
int main(void) {
    decar_gpt_config c = decar_gpt_default_config();
    decar_gpt g;
    decar_error e;
    c.n_layer = 1; c.d_model = 16; c.n_head = 2; c.seq_len = 8;
    if (decar_gpt_init(&g, &c, 1, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    printf("decar %s: %lu parameters\n", DECAR_VERSION, (unsigned long)g.n_params);
    decar_gpt_free(&g);
    return 0;
}
C
fails=0
if command -v pkg-config > /dev/null; then
  flags=$(PKG_CONFIG_PATH="$P/lib/pkgconfig" pkg-config --cflags --libs decar) &&
  cc -std=c99 -O1 -o "$B/inst_app/app_pc" "$B/inst_app/app.c" $flags && "$B/inst_app/app_pc" | sed 's/^/pkg-config build: /' ||
  { echo "FAILED: pkg-config build"; fails=$((fails + 1)); }
else echo "SKIP: pkg-config not installed"; fi
if command -v cmake > /dev/null; then
  cat > "$B/inst_app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.13)
project(app C)
find_package(decar 0.3 REQUIRED)
add_executable(app_cmake app.c)
target_link_libraries(app_cmake PRIVATE decar::decar)
CM
  (cd "$B/inst_app" && cmake -S . -B cm -DCMAKE_PREFIX_PATH="$P" > cm.log 2>&1 && cmake --build cm >> cm.log 2>&1) &&
  "$B/inst_app/cm/app_cmake" | sed 's/^/CMake build: /' || { echo "FAILED: CMake find_package build"; tail -5 "$B/inst_app/cm.log"; fails=$((fails + 1)); }
else echo "SKIP: cmake not installed"; fi
v=$("$P/bin/decar" --version) && grep -q "decar $(sed -n 's/^#define DECAR_VERSION "\(.*\)"/\1/p' decar.h)" <<< "$v" && echo "installed decar --version agrees with decar.h" || { echo "FAILED: decar --version"; fails=$((fails + 1)); }
exit $((fails > 0))
