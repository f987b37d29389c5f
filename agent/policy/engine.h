// Evaluates events against a rule set and produces alerts. Rules are compiled once into
// matchers whose cost does not grow with the number of rules (policy/matchers.h); per-process
// state (repeats being folded, secrets read for correlation) is bounded.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "policy/rules.h"
#include "proto/clawfence.pb.h"

namespace clawfence::policy {

class CompiledRules;

// Whether `path` names a dynamic loader (ld-linux*.so*, ld-*.so*, ld.so, ld-musl-*): run as a
// program, it maps and runs the program its arguments name, which the kernel never execs.
bool is_dynamic_loader(const std::string& path);
// The program a loader run with `argv` (argv[0] the loader) is asked to run: the first argument
// after the loader's own options (--library-path X, --preload X, --argv0 X, --audit X, --list,
// ...; "--" ends them), as given. "" when there is none.
std::string loader_program(const std::vector<std::string>& argv);
// "/proc/self/..." for a path under the process's own /proc/PID (what the kernel walks for an
// open of /proc/self/...), else "": rules that name /proc/self then hold for it too.
std::string proc_self_alias(const std::string& path, uint32_t pid);

struct EngineStats {
  uint64_t evaluated = 0;
  uint64_t alerts = 0;  // alerts emitted (first of a window, summaries, correlations)
  uint64_t folded = 0;  // repeats folded into an earlier alert
};

class Engine {
 public:
  // Compiles the rules; throws std::invalid_argument if they do not compile (load_rules has
  // already checked them, so this is a bug or a race with a file change).
  explicit Engine(const RuleSet& rules);
  ~Engine();

  // Before an event is written: an ENV event says whether its variable is a secret
  // (env.secret_names), and an exec's list keeps only the secret names handed over. Returns false
  // for an ENV event that is nobody's business (a variable that is not a secret; an exec handing
  // over no secret): it is counted, not written.
  bool annotate(v1::Event& ev) const;
  bool is_secret_name(const std::string& name) const;

  // Appends the alerts `ev` raises to `out` (as ALERT events naming the same process).
  void evaluate(const v1::Event& ev, std::vector<v1::Event>& out);
  // Ends fold windows that are over at `now_ns` (unix time), appending their summaries.
  void tick(int64_t now_ns, std::vector<v1::Event>& out);

  // The role of a process: the kernel's, as its event says (process/roles.h).
  static const std::string& role_of(const v1::Process& p) { return p.role(); }
  // Whether `role` is kept by everything below it (a tool's): "" (no role) is not.
  bool is_final(const std::string& role) const;
  // Whether an env rule judges a read or an enumeration of the environment by a process of
  // `role`: where the environment-read probes are wanted.
  bool judges_env_reads_of(const std::string& role) const;
  // Whether a kill rule kills a process of `role`: a tool, or a process no role names. The
  // assistant's own processes (a role that is not final) are refused where that can be done
  // (BPF LSM), never killed (bpf/guard/guard.bpf.h, cf_action_for_role).
  bool may_kill(const std::string& role) const;
  // The tool run of a process whose role is final: the first process below a role that is
  // not (the broker's child, with everything it started); else the process itself.
  uint32_t tool_run(const v1::Process& p) const { return tool_pid(p); }
  const EngineStats& stats() const { return stats_; }
  Mode mode() const;
  // Enforce mode reports "would" outcomes only (the kernel was told the same).
  void set_dry_run(bool dry_run) { dry_run_ = dry_run; }
  // The rule with this id (any kind), or nullptr.
  const RuleMeta* rule(const std::string& id) const;

 private:
  struct Hit {
    Hit(const RuleMeta* m = nullptr, v1::Evidence e = {}, bool s = false)
        : meta(m), evidence(std::move(e)), secret(s) {}
    const RuleMeta* meta;
    v1::Evidence evidence;
    bool secret = false;
    // a failed attempt (nothing was read or written): reported at most at info
    bool attempt = false;
    // what was done: "alerted", or a kernel guard's verdict (blocked, killed, would-block, ...)
    std::string outcome = "alerted";
    std::string mechanism;
    void take_outcome(const v1::Enforcement& e) {
      outcome = e.verdict() == "matched" ? "alerted" : e.verdict();
      mechanism = e.mechanism();
    }
    // correlation alerts: the rules and the evidence they tie together
    std::vector<std::string> related_ids;
    v1::Evidence related_evidence;
  };
  void raise(const v1::Event& ev, const std::string& role, Hit hit, std::vector<v1::Event>& out);
  void emit(const v1::Event& ev, const std::string& role, const Hit& hit, uint32_t count, bool folded,
            int64_t first_ns, int64_t last_ns, std::vector<v1::Event>& out);
  void correlate(const v1::Event& ev, const std::string& role, const Hit& egress_hit, std::vector<v1::Event>& out);
  // The kernel guard's verdict on `ev` decides the outcome of the alert for its rule; a verdict
  // no user-space rule matched (or a guard event) raises that rule's alert itself.
  void apply_enforcement(const v1::Event& ev, const std::string& role, bool consumed, std::vector<v1::Event>& out);
  void evaluate_env(const v1::Event& ev, std::vector<v1::Event>& out);
  void evaluate_dns(const v1::Event& ev, std::vector<v1::Event>& out);
  // The exec rules whose binary (a glob, or a name for the basename) names `path`.
  std::vector<uint32_t> exec_rules_for(const std::string& path) const;
  bool annotate_env_names(v1::EnvRead* e) const;
  void enforce_outcome(const v1::Event& ev, Hit& hit, bool* consumed) const;
  bool dry_run_ = false;
  // The tool run: the process's first ancestor (or itself) whose parent's role is not final.
  uint32_t tool_pid(const v1::Process& p) const;

  std::unique_ptr<CompiledRules> rules_;
  EngineStats stats_;

  // Folding: one alert per (rule, tool run) per window (per process for roles that are not
  // final); repeats are counted into a summary that keeps each distinct piece of evidence, so a
  // decoy repeated first cannot hide what followed.
  struct FoldState {
    int64_t window_start_ns = 0;
    int64_t last_ns = 0;
    uint32_t repeats = 0;
    v1::Event last_event;
    std::string role;
    Hit hit;
    std::vector<std::string> seen;    // serialized evidence of the first alert and of kept repeats
    std::vector<v1::Evidence> other;  // distinct evidence of repeats (at most kKeptEvidence)
    uint32_t other_dropped = 0;       // distinct evidence of repeats beyond those kept
    std::unordered_set<size_t> dropped_seen;  // hashes of what was counted there (at most kDroppedTracked)
  };
  static constexpr size_t kKeptEvidence = 16;
  static constexpr size_t kDroppedTracked = 4096;
  void emit_summary(const FoldState& f, std::vector<v1::Event>& out);
  std::unordered_map<std::string, FoldState> folds_;

  // DNS tunnelling: distinct names per (rule, tool run, domain) in the window.
  struct DnsNames {
    int64_t window_start_ns = 0;
    std::unordered_set<std::string> names;
    bool alerted = false;
  };
  std::unordered_map<std::string, DnsNames> dns_names_;

  // Correlation: the last secret a tool run read.
  struct SecretRead {
    int64_t ns = 0;
    std::vector<std::string> rule_ids;  // every secret rule the read matched
    v1::Evidence evidence;
  };
  std::unordered_map<uint32_t, SecretRead> secrets_;

};

}  // namespace clawfence::policy
