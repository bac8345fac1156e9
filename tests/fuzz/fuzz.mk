# Fuzz targets (tests/fuzz/fuzz_NAME.c, one per input boundary), included by the Makefile.
#   make fuzz        builds each target with clang + libFuzzer + ASan/UBSan in build-fuzz/ and
#                    runs it for FUZZ_SECONDS (60) on its corpus; prints execs and coverage
#   make test/check  replay every corpus file and every past finding (tests/fuzz/regressions/)
#                    through $(O)/tests/unit/test_fuzz_NAME: the same target file linked with a
#                    plain main (tests/fuzz/replay.c), so no clang or libFuzzer is needed
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
FUZZ_SUPPORT := tests/fuzz/support.c
FUZZ_OBJS := $(FUZZ_SUPPORT:%.c=$(O)/%.o) $(GW_OBJS) $(TEST_ADAPTER_OBJS) $(O)/libcortex.a
# The adapters' requests never leave the process: cx_http_do answers from the fuzz input.
FUZZ_LDFLAGS := -Wl,--wrap=cx_http_do
FUZZ_REPLAYS := $(FUZZ_NAMES:%=$(O)/tests/unit/test_fuzz_%)
FUZZ_BINS := $(FUZZ_NAMES:%=$(O)/tests/fuzz/bin/%)
FUZZ_SECONDS ?= 60
# clang counts vsnprintf(fmt) in a printf-like function as a non-literal format; gcc does not.
FUZZ_CFLAGS := -O1 -g -fno-omit-frame-pointer -Wno-format-nonliteral
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all

# The replay binaries sit with the unit tests, so scripts/run-tests.sh runs them as such.
$(O)/tests/unit/test_fuzz_%: $(O)/tests/fuzz/fuzz_%.o $(O)/tests/fuzz/replay.o $(FUZZ_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) $(FUZZ_LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/tests/fuzz/bin/%: $(O)/tests/fuzz/fuzz_%.o $(FUZZ_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer $(FUZZ_LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: fuzz fuzz-bins fuzz-deps
fuzz-bins: $(FUZZ_BINS)

fuzz-deps:
	@scripts/deps.sh fuzz

fuzz: fuzz-deps
	@$(MAKE) --no-print-directory O=build-fuzz CC=clang CFLAGS="$(FUZZ_CFLAGS)" \
		SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" fuzz-bins
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh build-fuzz $(FUZZ_TARGETS)

# The project's objects alone (what every target links against).
.PHONY: fuzz-lib
fuzz-lib: $(GW_OBJS) $(TEST_ADAPTER_OBJS) $(O)/libcortex.a
