# Cortex — one non-recursive Makefile. Out-of-tree builds: build/ (default), build-asan/ (make check).
#   make            build build/cortex-gateway
#   make run        install missing Debian packages, build, start the gateway (127.0.0.1:8080,
#                   or CONFIG=FILE / $CORTEX_CONFIG's listen, or $CORTEX_LISTEN)
#   make test       install what the tests need, build, run every test
#   make check      the same tests under AddressSanitizer and UndefinedBehaviorSanitizer
#   make fuzz       the fuzz targets (tests/fuzz/, clang + libFuzzer), FUZZ_SECONDS (60) each;
#                   make test and make check replay their corpora and past findings
#   make conformance  the official MCP conformance suites, every run
#   make soak       the fault trials at full counts, then 1,000 sessions with GET streams under a
#                   mixed call load for SOAK_SECONDS (600): RSS, fds, p50/p99 per minute
#   make bench      load benchmarks (wrk): gateway vs a fixed-response server and nginx;
#                   proxmox_list_vms through the gateway vs straight to the simulator;
#                   the task store and the cortex_* tools on each store (bench/tasks.sh);
#                   the orchestrator's pickup latency and 10,000 tasks drained (bench/orchestrator.mjs)
#   make compile_commands.json   (needs bear)
#   make install  binaries, systemd units, example configs (PREFIX=/usr/local, DESTDIR)
#   make demo     the simulator, the gateway on all five adapters and the orchestrator (scripts/demo.sh)

VERSION := 0.1.0
O ?= build
SAN ?=
CC ?= cc

PKGS := libmicrohttpd jansson libcurl openssl yaml-0.1 libssh2 hiredis
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wformat=2 -Wformat-security -Wold-style-definition \
	-Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wvla -Wshadow \
	-Wno-unused-parameter -Wno-missing-field-initializers
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -DCX_VERSION='"$(VERSION)"' $(WARN) $(CFLAGS) \
	$(SAN) $(PKG_CFLAGS) -MMD -MP
LDLIBS := $(PKG_LIBS) -lpthread
ALL_LDFLAGS := $(LDFLAGS) $(SAN)

LIB_SRCS := $(wildcard common/*.c)
# The backend adapters, one folder each (adapters/NAME/*.c, its tools.json and resources.json);
# a new adapter adds its name here and its entry to gateway/adapters_default.c.
BACKENDS := proxmox cloudflare sandfly unifi kubectl cortex
GW_SRCS := $(filter-out gateway/main.c gateway/adapters_default.c,$(wildcard gateway/*.c)) \
	adapters/gateway/gateway.c $(foreach b,$(BACKENDS),$(wildcard adapters/$(b)/*.c))
ADAPTER_JSON := adapters/gateway/tools.json gateway/openapi.json $(foreach b,$(BACKENDS),$(wildcard adapters/$(b)/*.json))
TEST_ADAPTER_SRCS := tests/adapters/testkit.c tests/adapters/conformance.c \
	tests/adapters/adapters_test.c
TEST_ADAPTER_JSON := tests/adapters/testkit.json tests/adapters/testkit-resources.json \
	tests/adapters/testkit-prompts.json tests/adapters/conformance.json \
	tests/adapters/conformance-resources.json tests/adapters/conformance-prompts.json
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
# Helpers the unit tests share: the fake exchange that drives the server core, the HTTP(S)
# servers the HTTP client is tested against.
UNIT_SUPPORT := tests/unit/fake_exchange.c tests/unit/http_test_server.c \
	tests/unit/redis_test_server.c tests/unit/llm_sim.c
# The backend simulator the adapters' tests run against (tests/sim/).
SIM_SRCS := $(wildcard tests/sim/*.c)
# The orchestrator (orchestrator/), with the masters' registry built in.
ORCH_SRCS := $(wildcard orchestrator/*.c)
# cortexctl (cli/): over MCP, or with --local the gateway's adapters and dispatch in-process.
CLI_SRCS := $(wildcard cli/*.c)

# The console's files (console/, served at / and /console/ by gateway/console.c), compiled in
# as one table: a new page, script, style or image is picked up by the wildcard.
CONSOLE_EXTS := html css js mjs json webmanifest svg png ico woff2 txt
CONSOLE_FILES := $(sort $(wildcard $(foreach e,$(CONSOLE_EXTS),console/*.$(e) console/*/*.$(e))))

LIB_OBJS := $(LIB_SRCS:%.c=$(O)/%.o)
GW_OBJS := $(GW_SRCS:%.c=$(O)/%.o) $(ADAPTER_JSON:%.json=$(O)/gen/%_json.o) \
	$(O)/gen/console_files.o
TEST_ADAPTER_OBJS := $(TEST_ADAPTER_SRCS:%.c=$(O)/%.o) $(TEST_ADAPTER_JSON:%.json=$(O)/gen/%_json.o)
UNIT_BINS := $(UNIT_SRCS:%.c=$(O)/%)
include tests/fuzz/fuzz.mk
UNIT_BINS += $(FUZZ_REPLAYS)

GATEWAY := $(O)/cortex-gateway
GATEWAY_TEST := $(O)/cortex-gateway-test
FIXED := $(O)/bench/fixed-responder
TASKCTL := $(O)/bench/taskctl
SIM := $(O)/cortex-sim
ORCH := $(O)/cortex-orchestrator
CORTEXCTL := $(O)/cortexctl
EMBED := $(O)/tools/embed

.PHONY: all run test check soak bench deps test-deps unit integration clean format compile_commands.json \
	conformance
.DEFAULT_GOAL := all
# Keep generated sources (tools.json as C) between builds.
.SECONDARY:

all: $(GATEWAY) $(GATEWAY_TEST) $(SIM) $(TASKCTL) $(ORCH) $(CORTEXCTL)

$(O)/libcortex.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(GATEWAY): $(O)/gateway/main.o $(O)/gateway/adapters_default.o $(GW_OBJS) $(O)/libcortex.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# The same gateway with the test adapter compiled in; never installed or shipped.
$(GATEWAY_TEST): $(O)/gateway/main.o $(GW_OBJS) $(TEST_ADAPTER_OBJS) $(O)/libcortex.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/tests/unit/%: $(O)/tests/unit/%.o $(UNIT_SUPPORT:%.c=$(O)/%.o) $(GW_OBJS) $(TEST_ADAPTER_OBJS) \
		$(O)/libcortex.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# The server-core tests share a fixture of their own.
$(O)/tests/unit/test_server $(O)/tests/unit/test_server_calls: $(O)/tests/unit/server_fixture.o
# The MCP client tests share a gateway-starting fixture.
$(O)/tests/unit/test_mcp_client $(O)/tests/unit/test_mcp_client_failures: $(O)/tests/unit/mcp_client_fixture.o
# cortexctl's tables, tested on their own.
$(O)/tests/unit/test_ctl_table: $(O)/cli/table.o

$(FIXED): $(O)/bench/fixed_responder.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# The worker's side of the task store from a shell, for the cortex tests and bench/tasks.sh.
$(TASKCTL): $(O)/bench/taskctl.o $(O)/libcortex.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(ORCH): $(ORCH_SRCS:%.c=$(O)/%.o) $(O)/gen/manifests/examples/masters_json.o $(O)/libcortex.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# cortexctl, with its bash completion (cli/cortexctl.bash) built in for `completion bash`.
$(CORTEXCTL): $(CLI_SRCS:%.c=$(O)/%.o) $(O)/gen/cli/cortexctl_bash.o $(O)/gateway/adapters_default.o \
		$(GW_OBJS) $(O)/libcortex.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/gen/cli/cortexctl_bash.c: cli/cortexctl.bash $(EMBED)
	@mkdir -p $(@D)
	$(EMBED) $< cli_cortexctl_bash > $@.tmp && mv $@.tmp $@

$(SIM): $(SIM_SRCS:%.c=$(O)/%.o) $(O)/libcortex.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) -lgnutls

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# tools.json files are compiled in as C strings, checked against the handlers at start-up.
$(EMBED): tools/embed.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 $(WARN) -o $@ $<

$(O)/gen/%_json.c: %.json $(EMBED)
	@mkdir -p $(@D)
	$(EMBED) $< $(subst /,_,$(subst -,_,$(basename $<)))_json > $@.tmp && mv $@.tmp $@

$(O)/gen/%_json.o: $(O)/gen/%_json.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The list of console files, rewritten only when it changes, so a file removed rebuilds the table.
$(O)/gen/console_files.list: FORCE
	@mkdir -p $(@D)
	@echo '$(CONSOLE_FILES)' | cmp -s - $@ || echo '$(CONSOLE_FILES)' > $@

$(O)/gen/console_files.c: $(CONSOLE_FILES) $(O)/gen/console_files.list $(EMBED)
	@mkdir -p $(@D)
	$(EMBED) --files cx_console_files console $(CONSOLE_FILES) > $@.tmp && mv $@.tmp $@

$(O)/gen/console_files.o: $(O)/gen/console_files.c
	$(CC) $(ALL_CFLAGS) -iquote . -c -o $@ $<

.PHONY: FORCE
FORCE:

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

run: deps
	@$(MAKE) --no-print-directory $(GATEWAY)
	@$(if $(CONFIG),CORTEX_CONFIG='$(CONFIG)' )scripts/run-gateway.sh $(GATEWAY)

test: test-deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS)
	@scripts/run-tests.sh $(O)
	@tests/faults/run.sh $(O)

check: test-deps
	@scripts/check-source.sh
	@$(MAKE) --no-print-directory O=build-asan CFLAGS="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" test-bins
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		scripts/run-tests.sh build-asan
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		tests/faults/run.sh build-asan

# The fault trials at full counts, then the soak (tests/faults/soak.mjs); not part of make test.
soak: test-deps
	@$(MAKE) --no-print-directory all
	@CORTEX_FAULTS_FULL=1 tests/faults/run.sh $(O)
	@node tests/faults/soak.mjs $(O)

.PHONY: test-bins
test-bins: all $(UNIT_BINS)

# Every run of the official MCP conformance suites, the tasks extension included.
conformance: test-deps
	@$(MAKE) --no-print-directory $(GATEWAY_TEST)
	@CORTEX_GATEWAY_BIN=$(CURDIR)/$(GATEWAY_TEST) tests/conformance/run.sh

bench: test-deps
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all $(FIXED)
	@bench/run.sh $(O)
	@echo
	@bench/backend.sh $(O)
	@echo
	@# Before tasks.sh: on ext4 without a journal, creating files walks every inode freed in the
	@# last minutes, and tasks.sh frees thousands (see the README's orchestrator figures).
	@node bench/orchestrator.mjs $(O)
	@echo
	@bench/tasks.sh $(O)

compile_commands.json:
	bear -- $(MAKE) -B all $(UNIT_BINS)

# Every C file of the project, as scripts/check-source.sh checks them.
C_SOURCES = $(wildcard common/*.[ch] gateway/*.[ch] adapters/*/*.[ch] tests/unit/*.[ch] \
	tests/adapters/*.[ch] tests/sim/*.[ch] bench/*.c tools/*.c orchestrator/*.[ch] cli/*.[ch] \
	tests/fuzz/*.[ch])

format:
	clang-format -i $(C_SOURCES)

clean:
	rm -rf build build-asan build-fuzz

# Single host: the binaries, cortexctl's bash completion, the systemd units with their paths
# filled in, and the example configs. docs/DEPLOY.md.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR ?= $(PREFIX)/share/doc/cortex
COMPLETIONSDIR ?= $(PREFIX)/share/bash-completion/completions
INSTALL_BINS := $(GATEWAY) $(ORCH) $(CORTEXCTL)
.PHONY: install demo
install: $(INSTALL_BINS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(DOCDIR)/examples/systemd \
		$(DESTDIR)$(COMPLETIONSDIR)
	install -m 0755 $(INSTALL_BINS) $(DESTDIR)$(BINDIR)/
	install -m 0644 cli/cortexctl.bash $(DESTDIR)$(COMPLETIONSDIR)/cortexctl
	for u in cortex-gateway cortex-orchestrator; do \
		sed 's|@BINDIR@|$(BINDIR)|g' manifests/systemd/$$u.service > $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.service.tmp && \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.service.tmp && \
		mv $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.service.tmp $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.service || exit 1; \
	done
	install -m 0644 manifests/examples/README.md manifests/examples/gateway.json \
		manifests/examples/masters.json $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 manifests/examples/systemd/gateway.json \
		manifests/examples/systemd/orchestrator.json $(DESTDIR)$(DOCDIR)/examples/systemd/

demo: deps
	@$(MAKE) --no-print-directory $(GATEWAY) $(SIM) $(ORCH) $(CORTEXCTL)
	@scripts/demo.sh $(O)

-include $(shell find $(O) -name '*.d' 2>/dev/null)
