# Weir — top-level build.  `make test` and `make demo` are the two commands
# README.md promises; everything else here serves them.
#
# Layout of the build tree:
#   build/<variant>/common/*.o   objects of common/ (libweir.a)
#   build/<variant>/tests/*      unit test binaries, tools
#   build/fuzz/fuzz_*            libFuzzer harnesses (VARIANT=fuzz)
# <variant> is `rel` (optimised), `san` (ASan+UBSan) or `fuzz` (clang,
# libFuzzer coverage + ASan+UBSan; `make fuzz` and `make fuzz-replay` build it).

SHELL      := /bin/bash
# Parallel by default, at the top level only: a sub-make ($(MAKE) in a
# recipe) shares its parent's jobserver, and forcing -j there makes make warn
# "-jN forced in makefile".  A -j on the command line still wins.
ifeq ($(MAKELEVEL),0)
  MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif
# Short "CC file" lines; V=1 shows the commands.
ifeq ($(V),1)
  Q  :=
  say = @:
else
  Q  := @
  say = @printf '  %-4s %s\n' $(1) $(2)
endif
VARIANT    ?= rel
B          := build/$(VARIANT)
CC         ?= cc
PKGS       := rdkafka avro-c libcurl libcjson libmicrohttpd libwebsockets hiredis zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
WARN       := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wconversion -Wno-sign-conversion \
              -Wstrict-prototypes -Wmissing-prototypes -Wvla
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -g $(WARN) -Icommon -I$(B)/gen $(PKG_CFLAGS)
ifeq ($(VARIANT),san)
  OPT_CFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  OPT_LDFLAGS := -fsanitize=address,undefined
else ifeq ($(VARIANT),fuzz)
  # -Wno-error: clang warns (-Wsometimes-uninitialized) through avro-c's
  # avro_value_get_* macros; the warning builds (gcc) are rel and san.
  CC := clang
  OPT_CFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -Wno-error
  OPT_LDFLAGS := -fsanitize=fuzzer,address,undefined
else
  OPT_CFLAGS := -O2
  OPT_LDFLAGS := -Wl,--as-needed
endif
CFLAGS  := $(BASE_CFLAGS) $(OPT_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(OPT_LDFLAGS)

# One link for every program: service binaries, unit tests and tools, in
# every VARIANT (rel, san) — the tests run what ships.  The libraries Debian
# ships as static archives are linked in, so each process maps fewer shared
# objects: every .so costs relocated (private dirty) data, its own partly
# touched text pages and its constructors, and in production each service is
# its own FROM scratch container where nothing is shared.  avro-c comes in
# without its snappy codec (C++: libstdc++, libgcc_s).  OpenSSL, cyrus-sasl,
# zstd, cJSON and glibc have no usable static archive and stay shared
# (-lcjson first: librdkafka.a carries its own, older cJSON with global
# symbols; Weir and librdkafka both bind to Debian's patched libcjson).  The
# archives of jansson and lz4 come with libjansson-dev and liblz4-dev
# (`make deps`).  Two shims, each kept because it saves more than 2 MB of RSS
# per service (docs/bench/link.md, with the command):
# libcurl (with the TLS, Kerberos, LDAP and SSH libraries Debian builds it
# against) is loaded at its first call (common/link/curl_lazy.c): ingress,
# compute and enrichment use it only with a schema registry; GnuTLS is not
# linked: common/link/gnutls_stub.c stands in for libmicrohttpd's HTTPS part,
# unused.
LINK_STATIC := avro rdkafka microhttpd websockets hiredis jansson lz4 cap
LINK_SHIM   := $(B)/common/link/gnutls_stub.o $(B)/common/link/curl_lazy.o
LINK_LIBS   := -Wl,--export-dynamic-symbol=_gnutls_global_init_skip \
               -lcjson $(LINK_STATIC:%=-l:lib%.a) -lssl -lcrypto \
               -l:libsasl2.so.2 -l:libzstd.so.1 -lz -lpthread -lm -ldl

# The build's identity (weir_build_info, common/procm.h): git describe at
# build time, or WEIR_VERSION/WEIR_REVISION given to make (a tarball
# without .git: "unknown").  The header is rewritten only when it changes,
# so a no-op build stays one and a new commit recompiles procm.c alone.
WEIR_VERSION  ?= $(or $(shell git describe --tags --always --dirty 2>/dev/null),unknown)
WEIR_REVISION ?= $(or $(shell git rev-parse --short=12 HEAD 2>/dev/null),unknown)
VERSION_H := $(B)/gen/weir_version.h
$(shell mkdir -p $(B)/gen && \
  printf '#define WEIR_VERSION "%s"\n#define WEIR_REVISION "%s"\n' '$(WEIR_VERSION)' '$(WEIR_REVISION)' \
    > $(VERSION_H).tmp && { cmp -s $(VERSION_H).tmp $(VERSION_H) && rm -f $(VERSION_H).tmp || \
    mv -f $(VERSION_H).tmp $(VERSION_H); })

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o)
LIBWEIR    := $(B)/libweir.a
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TOOL_SRC   := $(wildcard tests/tools/*.c)
TOOL_BIN   := $(TOOL_SRC:tests/tools/%.c=$(B)/tools/%)
# A program under services/ is a folder with a main.c: weir-<folder>.  Its
# other .c files also form build/<variant>/lib/libweir-<folder>.a, which unit
# tests and tools link (static archives: only what a test uses is pulled in).
SERVICES   := $(notdir $(patsubst %/main.c,%,$(wildcard services/*/main.c)))
SERVICE_BIN := $(SERVICES:%=$(B)/bin/weir-%)
SERVICE_LIBS := $(SERVICES:%=$(B)/lib/libweir-%.a)
SERVICE_SRC := $(wildcard services/*/*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 60
C_FILES    := $(shell git ls-files '*.c' '*.h' 2>/dev/null)

.PHONY: all deps test unit unit-san integration screenshots fuzz fuzz-replay format format-check lint docs-settings clean demo \
        bench bench-ingress bench-compute bench-scale bench-enrichment bench-e2e bench-sink images chaos chaos-short deploy-check kafka4 bench-otel

all: $(LIBWEIR) $(SERVICE_BIN) $(UNIT_BIN) $(TOOL_BIN)

# Objects and service archives reached only through pattern rules are
# "intermediate" to make, which deletes them after the build and remakes
# them next time: keep every target (a no-op `make all` runs no compiler).
.SECONDARY:

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBWEIR): $(COMMON_OBJ)
	@mkdir -p $(@D)
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^

# A test binary is its own .c plus the service archives and libweir;
# tests/unit/th.h is the harness.
$(B)/tests/%: $(B)/tests/unit/%.o $(SERVICE_LIBS) $(LIBWEIR) $(LINK_SHIM)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LINK_LIBS) -o $@

$(B)/tools/%: $(B)/tests/tools/%.o $(SERVICE_LIBS) $(LIBWEIR) $(LINK_SHIM)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LINK_LIBS) -o $@

.SECONDEXPANSION:
# (PCT: a literal % that make does not replace with the stem in a pattern rule)
PCT := %
$(B)/lib/libweir-%.a: $$(patsubst $$(PCT).c,$(B)/$$(PCT).o,$$(filter-out services/$$*/main.c,$$(wildcard services/$$*/*.c)))
	@mkdir -p $(@D)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/bin/weir-%: $(B)/services/%/main.o $(B)/lib/libweir-%.a $(LIBWEIR) $(LINK_SHIM)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LINK_LIBS) -o $@

# The sink's dashboard page is embedded with .incbin, which -MMD cannot see.
$(B)/services/sink/ws_page.o: services/sink/dashboard.html

-include $(COMMON_OBJ:.o=.d) $(UNIT_SRC:%.c=$(B)/%.d) $(TOOL_SRC:%.c=$(B)/%.d) \
         $(SERVICE_SRC:%.c=$(B)/%.d) $(FUZZ_SRC:%.c=$(B)/%.d)

# ---------------------------------------------------------------- deps
# Idempotent: each step checks before it installs, so a second run is quiet.
deps:
	@bash tests/harness/deps.sh

# ---------------------------------------------------------------- tests
# First: the build just made is complete (a second `make all` runs nothing).
unit: all
	@$(MAKE) --no-print-directory -q all || { echo "unit: make all is not a no-op right after" \
	  "make all; make -n all shows:" >&2; $(MAKE) --no-print-directory -n all | head -5 >&2; exit 1; }
	@bash tests/harness/run-unit.sh $(B)/tests unit

unit-san:
	@$(MAKE) --no-print-directory VARIANT=san all
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  bash tests/harness/run-unit.sh build/san/tests unit-san

integration: all
	@WEIR_BUILD=$(B) python3 -m pytest -v -p no:cacheprovider tests/integration

# The e2e, secured-cluster and protocol tests and the short cluster failover
# on Kafka 4 (tests/kafka/pom.xml's kafka4.version); part of make test.
kafka4: all
	@WEIR_BUILD=$(B) bash tests/harness/run-kafka4.sh

# The dashboard in headless Chromium at 1400x900 and 390x844, after events
# flowed (tests/integration/test_sink_ws_dashboard.py), saved as
# docs/img/dashboard-desktop.png and docs/img/dashboard-phone.png; one Weir
# trace drawn from Jaeger's query API by tests/jaeger/ui (test_otel_jaeger.py),
# saved as docs/img/jaeger-trace.png.
screenshots: all
	@DASHBOARD_SCREENSHOTS=docs/img WEIR_BUILD=$(B) python3 -m pytest -q -p no:cacheprovider \
	  tests/integration/test_sink_ws_dashboard.py
	@TRACE_SCREENSHOTS=docs/img WEIR_BUILD=$(B) python3 -m pytest -q -p no:cacheprovider \
	  tests/integration/test_otel_jaeger.py -k websocket

# The harnesses link the service archives and libweir like every program,
# built by clang with libFuzzer's coverage (VARIANT=fuzz, in build/fuzz).
fuzz-replay fuzz:
	@$(MAKE) --no-print-directory VARIANT=fuzz $(FUZZ_BIN)
	@bash tests/harness/run-fuzz.sh $(if $(filter fuzz,$@),run $(FUZZ_SECONDS),replay) $(FUZZ_BIN)

ifeq ($(VARIANT),fuzz)
build/fuzz/fuzz_%: $(B)/tests/fuzz/fuzz_%.o $(SERVICE_LIBS) $(LIBWEIR) $(LINK_SHIM)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LINK_LIBS) -o $@
endif

# `+`: the suites' own makes share this make's job slots (without it they
# warn "jobserver unavailable" and build with -j1).
test: deps
	@$(MAKE) --no-print-directory all
	+@bash tests/harness/run-all.sh

# ---------------------------------------------------------------- hygiene
format:
	clang-format -i $(C_FILES)

format-check:
	clang-format --dry-run -Werror $(C_FILES)

# The settings tables in docs/ are generated from the services' cfg_tab
# tables (common/cfg_tab.h) by tests/tools/cfg_doc: lint fails when they
# disagree, docs-settings rewrites them.
SETTINGS_DOCS := $(wildcard docs/*.md)

lint: $(B)/tools/cfg_doc
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem --std=c11 -Icommon common services tests/unit tests/tools
	@$(B)/tools/cfg_doc check $(SETTINGS_DOCS)

docs-settings: $(B)/tools/cfg_doc
	@$(B)/tools/cfg_doc update $(SETTINGS_DOCS)

clean:
	rm -rf build

# ---------------------------------------------------------------- benchmarks
# Each benchmark is a script under tests/bench/ that starts what it needs
# (broker, peers) and ends with one summary line; see docs/BENCHMARKS.md.
bench-ingress bench-compute bench-scale bench-enrichment bench-e2e bench-sink bench-otel: deps
	@$(MAKE) --no-print-directory all
	@bash tests/bench/$@.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@WEIR_BUILD=$(B) bash tests/bench/bench.sh

# ---------------------------------------------------------------- shipping
images: all
	@WEIR_BUILD=$${WEIR_BUILD:-$(B)} bash docker/build-images.sh

deploy-check:
	@bash tests/deploy/run.sh

# ---------------------------------------------------------------- chaos
chaos: deps
	@$(MAKE) --no-print-directory all
	@WEIR_BUILD=$(B) bash tests/chaos/run.sh

# The quick subset, part of make test (writes build/results/chaos-short).
chaos-short: all
	@WEIR_BUILD=$(B) bash tests/chaos/run.sh --short

# ---------------------------------------------------------------- demo
demo:
	@bash tests/harness/deps.sh --demo
	@$(MAKE) --no-print-directory all
	@bash services/demo/demo.sh
