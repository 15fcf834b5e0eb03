#!/usr/bin/env bash
# Build every libFuzzer target with clang (ASan + UBSan) and run each for
# FUZZ_SECONDS (default 15) from its seed corpus. Skips (exit 77) when clang
# or its fuzzer runtime is missing. A crash, leak or sanitizer report fails.
set -euo pipefail
: "${ACGS_BUILDDIR:?}" "${ACGS_SRCDIR:?}"
src=$ACGS_SRCDIR
seconds=${FUZZ_SECONDS:-15}
command -v clang >/dev/null || { echo "clang not installed: skipping"; exit 77; }
out=$ACGS_BUILDDIR/tests/fuzz/bin
mkdir -p "$out"

flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
	-I"$ACGS_BUILDDIR" -I"$src/common" -I"$src/agent" -I"$src/server" -D_GNU_SOURCE
	$(pkg-config --cflags libcjson inih libsodium libmosquitto libcurl))
libs=($(pkg-config --libs libcjson inih libsodium libmosquitto yaml-0.1) -ldl -lm -lpthread)
common=("$src"/common/*.c)

# Targets that need more than common/ list it in their first line:
#   /* fuzz-sources: agent/x.c agent/y.c */
status=0
for f in "$src"/tests/fuzz/fuzz_*.c; do
	name=$(basename "$f" .c)
	name=${name#fuzz_}
	more=$(sed -n '1,3s|.*fuzz-sources: \(.*\) \*/.*|\1|p' "$f")
	srcs=()
	for m in $more; do srcs+=("$src/$m"); done
	if ! clang "${flags[@]}" "$f" "${common[@]}" "${srcs[@]}" "${libs[@]}" -o "$out/$name" 2>"$out/$name.build.log"; then
		if grep -q 'libclang_rt.fuzzer\|fsanitize=fuzzer' "$out/$name.build.log"; then
			echo "no libFuzzer runtime: skipping"; exit 77
		fi
		cat "$out/$name.build.log"; exit 1
	fi
	corpus=$out/corpus-$name
	mkdir -p "$corpus"
	[ -d "$src/tests/fuzz/corpus/$name" ] && cp -n "$src/tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null || true
	if "$out/$name" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
		-print_final_stats=1 "$corpus" >"$out/$name.log" 2>&1; then
		echo "fuzz $name: ok, $(grep -m1 'stat::number_of_executed_units' "$out/$name.log" | awk '{print $2}') runs in ${seconds}s"
	else
		echo "fuzz $name: FAILED"
		tail -n 60 "$out/$name.log"
		status=1
	fi
done
exit $status
