// Rule files: read YAML, check every node, keep the rules in a plain model. Errors carry the
// file, line and column of the offending node. Compiling the model into matchers is
// policy/compiled.h; evaluating events against it is policy/engine.h.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "process/roles.h"
#include "process/targets.h"

namespace clawfence::policy {

struct RuleError {
  std::string file;
  int line = 0;    // 1-based; 0 when the error is about the file as a whole
  int column = 0;  // 1-based
  std::string message;
  std::string to_string() const;  // "file:line:column: message"
};

enum class Mode { kMonitor, kEnforce };
// PagerDuty's severities, lowest first.
enum class Severity { kInfo, kWarning, kError, kCritical };
enum class Action { kAlert, kBlock, kKill };

const char* to_string(Mode m);
const char* to_string(Severity s);
const char* to_string(Action a);

// What every rule has. `id` is unique across all files.
struct RuleMeta {
  std::string id;
  Severity severity = Severity::kWarning;
  Action action = Action::kAlert;
  std::string description;
  std::string file;  // where it was defined, for messages
  int line = 0;
};

// Who a process is inside the watched tree (process/roles.h says how it is decided).
using Role = process::Role;

struct EgressRule {
  RuleMeta meta;
  std::vector<std::string> hosts;  // api.openai.com, *.slack.com
  std::vector<std::string> cidrs;  // 127.0.0.0/8, ::1, 169.254.169.254
  std::vector<std::string> ports;  // 443, "8000-8080"; empty = any
  std::vector<std::string> roles;  // empty = every role
};

struct EgressPolicy {
  bool default_deny = false;       // `default: deny`: what no allow rule covers is unapproved
  bool default_set = false;        // the file said `default:` (directories: the last file that says it wins)
  RuleMeta unapproved;             // the rule an unapproved destination raises
  std::vector<EgressRule> allow;
  std::vector<EgressRule> deny;    // always raised, allowed or not (e.g. cloud metadata)
  // An address learned from a DNS answer for an approved name stays approved at least this long
  // (answers with a TTL of 0 or 1 s would otherwise expire before the connect that follows).
  uint64_t dns_min_ttl_ns = 60'000'000'000ull;
  bool dns_min_ttl_set = false;
  // The DNS servers whose answers approve addresses. Unset: the nameservers of /etc/resolv.conf.
  std::vector<std::string> dns_resolvers;
  bool dns_resolvers_set = false;
};

// What a file operation does to a file (`access:` of file rules): an open reads (O_RDONLY,
// O_RDWR), writes (O_WRONLY, O_RDWR, O_TRUNC, O_APPEND) and/or creates (O_CREAT); an unlink
// writes; a rename writes its old name and creates its new one; a hard link reads the file it
// names (a new name to read it by) and creates the new one; a unix socket's connect connects to
// the socket file its peer is bound to (only rules that name `connect`, or no access, see it).
enum AccessBits : uint8_t { kAccessRead = 1, kAccessWrite = 2, kAccessCreate = 4, kAccessConnect = 8 };

struct FileRule {
  RuleMeta meta;
  std::vector<std::string> paths;  // globs; `~` is the process's home
  std::vector<std::string> roles;  // empty = every role
  uint8_t access = 0;              // AccessBits the rule is about; 0 = any
  bool secret = true;              // a hit counts as reading a secret (for correlation)
};

// Operations by these roles outside `allow` raise the rule (successful ones: a failed probe of
// a path is no access).
struct ScopeRule {
  RuleMeta meta;
  std::vector<std::string> roles;
  std::vector<std::string> allow;  // globs
  uint8_t access = kAccessRead | kAccessWrite | kAccessCreate;  // what the scope is about
};

struct ExecRule {
  RuleMeta meta;
  std::vector<std::string> binaries;       // basename of the executed file, or a glob over its path
  std::vector<std::string> argv_contains;  // substring of the space-joined argv: "| sh", "base64 -d"
  std::vector<std::string> roles;
};

struct VolumeRule {
  RuleMeta meta;
  std::vector<std::string> roles;
  uint64_t window_ns = 60'000'000'000ull;
  uint64_t max_bytes = 0;
  std::vector<std::string> except_hosts;
};

// DNS tunnelling: data sent out in the names a tool asks the resolver for (the resolver forwards
// them to the zone's server, wherever it is). Judged in user space on the answers a tool run
// receives: more than `max_names` distinct names under one domain in `window`, or a label longer
// than `max_label`.
struct DnsTunnelRule {
  RuleMeta meta;
  std::vector<std::string> roles;
  uint64_t window_ns = 60'000'000'000ull;
  uint32_t max_names = 30;
  uint32_t max_label = 52;
};

// Ways around the other rules, each judged in the kernel (kEvasionWhats below): `io_uring` (file
// operations submitted through a ring bypass the syscall tracepoints), `raw_socket` (any socket
// but TCP and UDP: their packets never meet the connect and sendmsg hooks), `compat_syscall`,
// `mount`, `namespace`, `shared_files`, `process_access`, `listen`.
struct EvasionRule {
  RuleMeta meta;
  std::string what;                // see kEvasionWhats
  std::vector<std::string> roles;
};

// The ways around the other guards an evasion rule can name, with the kernel slot judging each
// (include/clawfence/abi.h, enum cf_evasion).
struct EvasionWhat {
  const char* name;
  int slot;
};
extern const EvasionWhat kEvasionWhats[];
extern const size_t kEvasionWhatCount;
bool evasion_what_known(const std::string& what);
int evasion_slot(const std::string& what);  // -1: unknown
std::string evasion_what_list();


// Environment reads (the secrets sensors). `what`: read (a variable whose name matches
// env.secret_names was read: getenv, process.env.X), enumerate (the whole environment dumped),
// handed (a secret variable passed to a new program at exec), ptrace (another process attached
// to: all its memory, environment included, is readable).
struct EnvRule {
  RuleMeta meta;
  std::string what;
  std::vector<std::string> roles;
};

struct AlertSettings {
  uint64_t fold_window_ns = 60'000'000'000ull;         // repeats of a rule by a process fold into one alert
  uint64_t correlation_window_ns = 120'000'000'000ull; // secret read then unapproved egress
  bool fold_set = false, correlation_set = false;     // said by the file (directories merge per field)
};

struct RuleSet {
  int version = 1;
  Mode mode = Mode::kMonitor;
  bool mode_set = false;  // the file said `mode:` (a later file without one keeps it)
  std::vector<process::Target> targets;
  std::vector<Role> roles;
  EgressPolicy egress;
  std::vector<FileRule> file_deny;
  std::vector<ScopeRule> file_scope;
  std::vector<ExecRule> exec;
  std::vector<std::string> secret_names;  // env variable name globs
  std::vector<EnvRule> env;
  std::vector<VolumeRule> volume;
  std::vector<EvasionRule> evasion;
  std::vector<DnsTunnelRule> dns_tunnel;
  // Refuse new egress of watched processes while records are being lost (enforce mode).
  bool fail_closed = false;
  bool fail_closed_set = false;
  AlertSettings alerts;
  std::vector<std::string> files;  // files it was read from

  size_t rule_count() const;
};

struct LoadResult {
  RuleSet rules;
  std::vector<RuleError> errors;
  bool ok() const { return errors.empty(); }
};

// Loads one file, or every *.yaml / *.yml file of a directory in name order. Later files add
// targets, roles and rules (ids stay unique); `mode`, `egress.default` and `alerts` are taken
// from the last file that says them.
LoadResult load_rules(const std::string& path);
// Parses rule text (tests, fuzzing); `name` is used in error messages.
LoadResult parse_rules(const std::string& text, const std::string& name);

// The nameservers of a resolv.conf, in order (a link-local server's zone dropped).
std::vector<std::string> resolv_conf_nameservers(const std::string& path = "/etc/resolv.conf");

// The DNS servers whose answers name (and in the kernel approve) addresses, and the ones
// `cidr: [resolvers]` stands for: the rules' egress.dns_resolvers, else the host's (`system`,
// from resolv_conf_nameservers()).
const std::vector<std::string>& dns_resolvers(const RuleSet& rules, const std::vector<std::string>& system);

// The token an egress rule's `cidr` list uses for the DNS resolvers: `egress.dns_resolvers`, or
// the nameservers of /etc/resolv.conf. load_rules and parse_rules replace it.
constexpr const char* kResolversToken = "resolvers";

// "60s", "5m", "1h", "250ms" -> ns; false on bad input.
bool parse_duration(const std::string& text, uint64_t* ns);
// "10MiB", "1GB", "4096" -> bytes; false on bad input.
bool parse_size(const std::string& text, uint64_t* bytes);

}  // namespace clawfence::policy
