# clawfence: one binary (build/clawfence) with its eBPF object embedded through a bpftool
# skeleton. Everything is built under build/.
#
#   make            build everything
#   make run        install missing packages, build, start the agent with rules/openclaw.yaml
#   make test       install missing packages, build, run every test tier
#   make bench      benchmarks against auditd and bpftrace (written to bench/results.md)
#   make soak       the agent under a mixed load for SOAK_SECONDS (600), as root: RSS, fds, loss,
#                   the audit chain and PagerDuty delivery checked (scripts/soak.sh)

BUILD    := build
CXX      ?= g++
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

# vmlinux.h is generated from the BTF of the kernel we build on rather than vendored: the
# programs are CO-RE, so the object still relocates on any BTF kernel at load time, and a
# generated header always has the types the build host's kernel has (struct mount, open_how)
# without a multi-megabyte vendored file to keep current. Point VMLINUX_BTF elsewhere to build
# on a host without /sys/kernel/btf/vmlinux.
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

# pkg-config runs lazily (=, not :=), so `make run` on a fresh machine can install the
# packages before anything asks for their flags.
PKGS      = libbpf protobuf spdlog yaml-cpp fmt libcrypto libelf libcurl cpp-httplib libsystemd re2
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))

CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++17 -Wall -Wextra -Werror -MMD -MP -pthread
CPPFLAGS += -Iinclude -Iagent -I$(BUILD)/gen -I$(BUILD)/bpf -Itests/lib
LDLIBS   += -pthread

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror -MMD -MP \
              -I$(BUILD)/bpf -Iinclude

# ---- eBPF ------------------------------------------------------------------------------------
BPF_SRCS := bpf/process/process.bpf.c bpf/syscalls.bpf.c bpf/fentry.bpf.c bpf/net/net.bpf.c bpf/net/dns.bpf.c bpf/net/egress.bpf.c \
            bpf/guard/lsm.bpf.c bpf/env/env.bpf.c
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.o,$(BPF_SRCS))
BPF_OBJ  := $(BUILD)/bpf/clawfence.bpf.o
BPF_SKEL := $(BUILD)/bpf/clawfence.skel.h

$(BUILD)/bpf/vmlinux.h:
	@mkdir -p $(@D)
	@test -r $(VMLINUX_BTF) || { echo "error: no kernel BTF at $(VMLINUX_BTF) (CONFIG_DEBUG_INFO_BTF=y is required)"; exit 1; }
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

$(BUILD)/bpf/%.o: bpf/%.bpf.c $(BUILD)/bpf/vmlinux.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BPF_OBJ): $(BPF_OBJS)
	$(BPFTOOL) gen object $@ $^

$(BPF_SKEL): $(BPF_OBJ)
	$(BPFTOOL) gen skeleton $< name clawfence_bpf > $@.tmp && mv $@.tmp $@

# ---- protobuf --------------------------------------------------------------------------------
PROTO_SRC := agent/proto/clawfence.proto
PROTO_CC  := $(BUILD)/gen/proto/clawfence.pb.cc
PROTO_H   := $(BUILD)/gen/proto/clawfence.pb.h

$(PROTO_CC) $(PROTO_H) &: $(PROTO_SRC)
	@mkdir -p $(BUILD)/gen
	protoc --proto_path=agent --cpp_out=$(BUILD)/gen $<

# ---- user space ------------------------------------------------------------------------------
AGENT_SRCS := $(filter-out agent/main.cpp,$(wildcard agent/*/*.cpp agent/*.cpp))
AGENT_OBJS := $(patsubst %.cpp,$(BUILD)/obj/%.o,$(AGENT_SRCS)) $(BUILD)/obj/gen/clawfence.pb.o
AGENT_LIB  := $(BUILD)/libclawfence.a
GENERATED  := $(BPF_SKEL) $(PROTO_H)

$(BUILD)/obj/%.o: %.cpp | $(GENERATED)
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(PKG_CFLAGS) $(CXXFLAGS) -c $< -o $@

$(BUILD)/obj/gen/clawfence.pb.o: $(PROTO_CC) $(PROTO_H)
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(PKG_CFLAGS) $(filter-out -Werror,$(CXXFLAGS)) -c $< -o $@

$(AGENT_LIB): $(AGENT_OBJS)
	$(AR) rcs $@ $^

$(BUILD)/clawfence: $(BUILD)/obj/agent/main.o $(AGENT_LIB)
	$(CXX) $(CXXFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# ---- tests -----------------------------------------------------------------------------------
WORKLOADS := $(patsubst tests/workloads/%.c,$(BUILD)/workloads/%,$(wildcard tests/workloads/*.c))
$(BUILD)/workloads/%: tests/workloads/%.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -pthread -o $@ $<

define test_binary
$(BUILD)/tests/$(1): $(patsubst %.cpp,$(BUILD)/obj/%.o,$(wildcard tests/$(2)/*.cpp) $(3)) $(AGENT_LIB)
	@mkdir -p $$(@D)
	$$(CXX) $$(CXXFLAGS) -o $$@ $$^ $$(PKG_LIBS) -lgtest -lgtest_main $$(LDLIBS)
endef
$(eval $(call test_binary,unit_tests,unit,tests/lib/fake_pagerduty.cpp))
$(eval $(call test_binary,bpf_tests,bpf,tests/lib/harness.cpp tests/lib/guard_fixture.cpp))
$(eval $(call test_binary,e2e_tests,e2e,tests/lib/harness.cpp tests/lib/fake_pagerduty.cpp))
# The adversarial suite (tests/adversarial): the attacker's playbook, each case a watched tool.
$(eval $(call test_binary,adversarial_tests,adversarial,tests/lib/harness.cpp tests/lib/fake_pagerduty.cpp))
# The real OpenClaw (tests/openclaw), installed by scripts/install-openclaw.sh into $(BUILD)/openclaw.
$(eval $(call test_binary,openclaw_tests,openclaw,tests/lib/harness.cpp tests/lib/openclaw.cpp))
TEST_BINS := $(BUILD)/tests/unit_tests $(BUILD)/tests/bpf_tests $(BUILD)/tests/e2e_tests \
             $(BUILD)/tests/adversarial_tests $(BUILD)/tests/openclaw_tests

# ---- sanitizers ------------------------------------------------------------------------------
# The user space a second time with AddressSanitizer and UndefinedBehaviorSanitizer, by the main
# compiler, into $(BUILD)/san: the unit tests, run as a tier of `make test` (scripts/run-tests.sh,
# which sets ASAN_OPTIONS/UBSAN_OPTIONS so that any finding fails the tier). -O1 keeps the stacks
# readable and the run short. The warnings are the main build's but -Wmaybe-uninitialized: GCC's
# manual warns that the sanitizers raise false positives of it (here, in libstdc++'s <regex>
# through httplib.h), and the -O2 build checks that warning on the same code. The fuzz targets
# below use the same sanitizer flags with clang++.
SAN_FLAGS    := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
SAN_CXXFLAGS := -O1 -g -std=c++17 -Wall -Wextra -Werror -Wno-maybe-uninitialized -MMD -MP -pthread $(SAN_FLAGS)
SAN_OBJS     := $(patsubst %.cpp,$(BUILD)/san/obj/%.o,$(AGENT_SRCS) $(wildcard tests/unit/*.cpp) \
                  tests/lib/fake_pagerduty.cpp) $(BUILD)/san/obj/gen/clawfence.pb.o
SAN_BINS     := $(BUILD)/san/unit_tests

$(BUILD)/san/obj/%.o: %.cpp | $(GENERATED)
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(PKG_CFLAGS) $(SAN_CXXFLAGS) -c $< -o $@

$(BUILD)/san/obj/gen/clawfence.pb.o: $(PROTO_CC) $(PROTO_H)
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(PKG_CFLAGS) $(filter-out -Werror,$(SAN_CXXFLAGS)) -c $< -o $@

$(BUILD)/san/unit_tests: $(SAN_OBJS)
	$(CXX) $(SAN_CXXFLAGS) -o $@ $^ $(PKG_LIBS) -lgtest -lgtest_main $(LDLIBS)

.PHONY: san-bins
san-bins: $(SAN_BINS)

# ---- fuzzing ---------------------------------------------------------------------------------
# libFuzzer targets, one binary each ($(BUILD)/fuzz/<name>_fuzz from tests/fuzz/<name>_fuzz.cpp),
# built with clang++ and ASan/UBSan ($(SAN_FLAGS)):
#   rules    the rule loader and the Engine compiling what it accepts
#   decoder  the ring-buffer record decoder (sensor::decode_record)
#   dns      the user-space DNS answer parser (sensor::parse_dns_response)
#   tail     the tail protocol: DelimitedReader, tail_matches, serialize_delimited
# The agent sources a target reaches are compiled again here with the same compiler and
# sanitizers rather than taken from the g++-built $(AGENT_LIB): mixing the two is fragile. Only
# the code under test is coverage-instrumented; the generated protobuf code is not.
#   make fuzz-smoke   FUZZ_SMOKE_SECONDS (15) per target from its seeds (a tier of `make test`,
#                     through scripts/run-tests.sh)
#   make fuzz         FUZZ_SECONDS (600) per target, keeping what it finds in
#                     $(BUILD)/fuzz/corpus/<name>
# Seeds are tests/fuzz/corpus/<name>. Crashing inputs are written to $(BUILD)/fuzz/artifacts/,
# never into the repository.
FUZZ_CXX           ?= clang++
FUZZ_SECONDS       ?= 600
FUZZ_SMOKE_SECONDS ?= 15
FUZZ_CXXFLAGS := -O1 -g -std=c++17 -Wall -Wextra -Werror -MMD -MP -pthread $(SAN_FLAGS)
FUZZ_TARGETS  := rules decoder dns tail
# The agent sources each target links. The rules target reaches the record decoder (and what it
# calls); the sensor's loader stays out of every target.
FUZZ_SRCS_rules   := $(wildcard agent/policy/*.cpp) agent/process/targets.cpp agent/process/roles.cpp \
                     agent/process/proc_fs.cpp \
                     agent/process/pod_metadata.cpp agent/common/http.cpp \
                     $(filter-out agent/sensor/sensor.cpp agent/sensor/kernel.cpp,$(wildcard agent/sensor/*.cpp))
FUZZ_SRCS_decoder := agent/sensor/decoder.cpp agent/sensor/dns.cpp
FUZZ_SRCS_dns     := agent/sensor/dns.cpp agent/sensor/decoder.cpp
FUZZ_SRCS_tail    := agent/output/tail.cpp agent/output/output.cpp
FUZZ_BINS     := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%_fuzz)
FUZZ_RUN       = -rss_limit_mb=2048 -timeout=10 -artifact_prefix=$(BUILD)/fuzz/artifacts/

$(BUILD)/fuzz/obj/%.o: %.cpp | $(PROTO_H)
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(CPPFLAGS) $(PKG_CFLAGS) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(BUILD)/fuzz/obj/gen/clawfence.pb.o: $(PROTO_CC) $(PROTO_H)
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(CPPFLAGS) $(PKG_CFLAGS) $(filter-out -Werror,$(FUZZ_CXXFLAGS)) -c $< -o $@

define FUZZ_TARGET
$$(BUILD)/fuzz/$(1)_fuzz: $$(patsubst %.cpp,$$(BUILD)/fuzz/obj/%.o,$$(FUZZ_SRCS_$(1)) tests/fuzz/$(1)_fuzz.cpp) \
                          $$(BUILD)/fuzz/obj/gen/clawfence.pb.o
	$$(FUZZ_CXX) $$(FUZZ_CXXFLAGS) -fsanitize=fuzzer -o $$@ $$^ $$(PKG_LIBS) $$(LDLIBS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_TARGET,$(t))))

# libFuzzer writes new inputs to its first corpus directory: a throwaway copy of the seeds here,
# so the bounded run is the same every time and leaves nothing behind. One target after another;
# the first finding stops the run. FUZZ_ONLY=<name> runs one target.
FUZZ_RUN_TARGETS = $(or $(FUZZ_ONLY),$(FUZZ_TARGETS))
.PHONY: fuzz fuzz-smoke fuzz-bins
fuzz-bins: $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS)
	@mkdir -p $(BUILD)/fuzz/artifacts
	@set -e; for t in $(FUZZ_RUN_TARGETS); do \
	  echo "== fuzz $$t"; \
	  dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && cp tests/fuzz/corpus/$$t/* "$$dir"/ && \
	  $(BUILD)/fuzz/$${t}_fuzz $(FUZZ_RUN) -max_total_time=$(FUZZ_SMOKE_SECONDS) "$$dir" tests/fuzz/corpus/$$t; \
	  rm -rf "$$dir"; \
	done

fuzz: $(FUZZ_BINS)
	@mkdir -p $(BUILD)/fuzz/artifacts
	@set -e; for t in $(FUZZ_RUN_TARGETS); do \
	  echo "== fuzz $$t"; mkdir -p $(BUILD)/fuzz/corpus/$$t; \
	  $(BUILD)/fuzz/$${t}_fuzz $(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS) \
	    $(BUILD)/fuzz/corpus/$$t tests/fuzz/corpus/$$t; \
	done

# ---- install ---------------------------------------------------------------------------------
# `make install` (as root) puts the agent on a host run by systemd:
#   $(PREFIX)/bin/clawfence                  the agent; its eBPF object is embedded in the binary
#                                            (bpftool skeleton), so there is no .o to install
#   /etc/clawfence/rules.d/*.yaml            the shipped rules (rules/)
#   /etc/clawfence/clawfence.yaml            the configuration (deploy/clawfence.yaml)
#   $(UNITDIR)/clawfence.service             deploy/systemd/clawfence.service, ExecStart pointing
#                                            at $(PREFIX)/bin
# then `systemctl enable --now clawfence`. DESTDIR stages the tree for a package instead.
# Files under /etc belong to the operator once installed: one that was edited is kept, and the
# shipped version is put beside it as NAME.new (neither loaded as rules nor read as the config:
# only *.yaml are), with a message. Logs, state and pins are the unit's and the agent's business:
# nothing here creates /var/log/clawfence, /var/lib/clawfence or /run/clawfence.
PREFIX  ?= /usr/local
DESTDIR ?=
UNITDIR ?= /lib/systemd/system
CONFDIR := /etc/clawfence
PIN_DIR := /sys/fs/bpf/clawfence
# systemctl only on the live system (no DESTDIR) and only when systemd runs it
SYSTEMD_LIVE = [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]

# A shell function: install_conf SOURCE TARGET installs SOURCE as TARGET (0644) unless TARGET
# was edited.
INSTALL_CONF = install_conf() { \
	  if [ ! -e "$$2" ]; then install -m 0644 "$$1" "$$2" && echo "installed $$2"; \
	  elif cmp -s "$$1" "$$2"; then echo "unchanged $$2"; \
	  else install -m 0644 "$$1" "$$2.new" && \
	    echo "kept $$2: it differs from the shipped version, which is now $$2.new (merge by hand)"; fi; }

.PHONY: install uninstall
install: $(BUILD)/clawfence
	install -d -m 0755 "$(DESTDIR)$(PREFIX)/bin" "$(DESTDIR)$(CONFDIR)" "$(DESTDIR)$(CONFDIR)/rules.d" \
	  "$(DESTDIR)$(UNITDIR)"
	install -m 0755 $(BUILD)/clawfence "$(DESTDIR)$(PREFIX)/bin/clawfence"
	@$(INSTALL_CONF); \
	for f in rules/*.yaml; do install_conf "$$f" "$(DESTDIR)$(CONFDIR)/rules.d/$${f##*/}" || exit 1; done; \
	if [ -f deploy/clawfence.yaml ]; then install_conf deploy/clawfence.yaml "$(DESTDIR)$(CONFDIR)/clawfence.yaml"; \
	else echo "no deploy/clawfence.yaml in this tree: no config file installed"; fi
	sed 's|/usr/local/bin/clawfence|$(PREFIX)/bin/clawfence|g' deploy/systemd/clawfence.service \
	  > "$(DESTDIR)$(UNITDIR)/.clawfence.service.tmp"
	chmod 0644 "$(DESTDIR)$(UNITDIR)/.clawfence.service.tmp"
	mv "$(DESTDIR)$(UNITDIR)/.clawfence.service.tmp" "$(DESTDIR)$(UNITDIR)/clawfence.service"
	@if $(SYSTEMD_LIVE); then systemctl daemon-reload && \
	  echo "start it with: systemctl enable --now clawfence (if it already runs: systemctl restart clawfence)"; fi

# Removes the binary and the unit; /etc/clawfence, the audit log and the state stay. On the live
# system the service is stopped first, and whatever it left pinned is unloaded with the binary
# that is about to go: enforcement with no agent and no clawfence to remove it would be an orphan.
uninstall:
	@if $(SYSTEMD_LIVE); then systemctl disable --now clawfence.service 2>/dev/null || true; fi
	@if [ -z "$(DESTDIR)" ] && [ -d $(PIN_DIR) ] && [ -x "$(PREFIX)/bin/clawfence" ]; then \
	  "$(PREFIX)/bin/clawfence" unload --pin-dir $(PIN_DIR); fi
	rm -f "$(DESTDIR)$(PREFIX)/bin/clawfence" "$(DESTDIR)$(UNITDIR)/clawfence.service"
	@if $(SYSTEMD_LIVE); then systemctl daemon-reload; fi
	@echo "left in place: $(CONFDIR), /var/log/clawfence (audit log), /var/lib/clawfence"

# ---- entry points ----------------------------------------------------------------------------
.PHONY: all deps run test check bench soak clean
.DEFAULT_GOAL := all

all: $(BUILD)/clawfence

deps:
	@scripts/install-deps.sh

RULES ?= rules/openclaw.yaml
# stdout is the agent's event stream alone (`make run > events.jsonl`); the build says what it does on stderr
run: deps
	@$(MAKE) --no-print-directory -j$(shell nproc) all >&2
	@echo "$(BUILD)/clawfence agent --rules $(RULES) $(ARGS)" >&2
	@$(BUILD)/clawfence agent --rules $(RULES) $(ARGS)

test: deps
	@$(MAKE) --no-print-directory -j$(shell nproc) check

check: $(BUILD)/clawfence $(TEST_BINS) $(SAN_BINS) $(WORKLOADS) $(FUZZ_BINS)
	scripts/run-tests.sh

bench:
	@scripts/install-deps.sh --bench
	@$(MAKE) --no-print-directory all $(WORKLOADS)
	BUILD=$(BUILD) scripts/bench.sh
	BUILD=$(BUILD) scripts/bench-openclaw.sh

soak: deps
	@$(MAKE) --no-print-directory all $(SOAK_BINS)
	BUILD=$(BUILD) scripts/soak.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- benchmarks ------------------------------------------------------------------------------
# Built by scripts/bench.sh (`make bench`) through `make bench-bins`: the syscall loop, the
# floor (an empty raw_tp sys_enter/sys_exit pair with one map lookup each), the user-space
# pipeline throughput benchmark and the per-lookup cost of the policy matchers.
BENCH_BINS := $(BUILD)/bench/loop $(BUILD)/bench/floor $(BUILD)/bench/pipeline_bench $(BUILD)/bench/policy_bench \
              $(BUILD)/bench/matchers_bench

$(BUILD)/bench/loop: bench/loop.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $<

$(BUILD)/bench/floor.bpf.o: bench/floor.bpf.c $(BUILD)/bpf/vmlinux.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bench/floor.skel.h: $(BUILD)/bench/floor.bpf.o
	$(BPFTOOL) gen skeleton $< name floor_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/bench/floor: bench/floor.c $(BUILD)/bench/floor.skel.h
	$(CC) -O2 -g -Wall -Wextra -Werror -MMD -MP -I$(BUILD)/bench $(shell pkg-config --cflags libbpf) \
	    -o $@ $< $(shell pkg-config --libs libbpf)

$(BUILD)/bench/policy_bench: $(BUILD)/obj/bench/policy_bench.o $(AGENT_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/bench/pipeline_bench: $(BUILD)/obj/bench/pipeline_bench.o $(AGENT_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/bench/matchers_bench: $(BUILD)/obj/bench/matchers_bench.o $(AGENT_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

.PHONY: bench-bins
bench-bins: $(BENCH_BINS)

# ---- soak ------------------------------------------------------------------------------------
# scripts/soak.sh (`make soak`): the PagerDuty stand-in it points the agent at.
SOAK_BINS := $(BUILD)/bench/soak_pagerduty

$(BUILD)/bench/soak_pagerduty: $(BUILD)/obj/bench/soak_pagerduty.o $(BUILD)/obj/tests/lib/fake_pagerduty.o $(AGENT_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

.PHONY: soak-bins
soak-bins: $(SOAK_BINS)
