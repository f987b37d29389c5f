#include "policy/engine.h"

#include <fnmatch.h>

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <stdexcept>

#include "policy/matchers.h"
#include "proto/timestamp.h"

namespace clawfence::policy {
namespace {

std::string basename_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string join_argv(const google::protobuf::RepeatedPtrField<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out.push_back(' ');
    out += a;
  }
  return out;
}

std::string home_of(uint32_t uid) {
  struct passwd pw {};
  struct passwd* res = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_dir) return res->pw_dir;
  return uid == 0 ? "/root" : "/home/" + std::to_string(uid);
}

std::string expand_home(const std::string& glob, const std::string& home) {
  if (glob == "~") return home;
  if (glob.rfind("~/", 0) == 0) return home + glob.substr(1);
  return glob;
}

// What a connect or send showed a rule: where to, and the name the process resolved for it.
v1::Evidence net_evidence(const v1::NetOp& n) {
  v1::Evidence e;
  e.set_address(n.address());
  e.set_port(n.port());
  e.set_protocol(n.protocol());
  if (!n.hostname().empty()) e.set_hostname(n.hostname());
  return e;
}

bool role_allowed(const std::vector<std::string>& roles, const std::string& role) {
  return roles.empty() || std::find(roles.begin(), roles.end(), role) != roles.end();
}

// The names a file operation has, each with what it does to it (AccessBits).
std::vector<std::pair<const std::string*, uint8_t>> file_names(const v1::FileOp& f) {
  switch (f.op()) {
    case v1::FileOp::OPEN: {
      uint8_t a = 0;
      if (f.access() == "read" || f.access() == "read_write") a |= kAccessRead;
      if (f.access() == "write" || f.access() == "read_write") a |= kAccessWrite;
      for (const auto& flag : f.flags()) {
        if (flag == "O_TRUNC" || flag == "O_APPEND") a |= kAccessWrite;
        if (flag == "O_CREAT") a |= kAccessCreate;
      }
      return {{&f.path(), a ? a : static_cast<uint8_t>(kAccessRead)}};
    }
    case v1::FileOp::UNLINK: return {{&f.path(), kAccessWrite}};
    case v1::FileOp::RENAME: return {{&f.path(), kAccessWrite}, {&f.new_path(), kAccessCreate}};
    case v1::FileOp::LINK: return {{&f.path(), kAccessRead}, {&f.new_path(), kAccessCreate}};
    // what is mounted is read under the mount point from then on
    case v1::FileOp::MOUNT: return {{&f.path(), kAccessRead}};
    case v1::FileOp::CONNECT: return {{&f.path(), kAccessConnect}};
    default: return {{&f.path(), kAccessRead}, {&f.new_path(), kAccessCreate}};
  }
}

}  // namespace

std::string proc_self_alias(const std::string& path, uint32_t pid) {
  const std::string own = "/proc/" + std::to_string(pid);
  if (pid == 0 || path.compare(0, own.size(), own) != 0) return "";
  if (path.size() == own.size()) return "/proc/self";
  if (path[own.size()] != '/') return "";
  return "/proc/self" + path.substr(own.size());
}

namespace {

}  // namespace

bool is_dynamic_loader(const std::string& path) {
  const std::string base = basename_of(path);
  for (const char* pattern : {"ld-linux*.so*", "ld-*.so*", "ld.so", "ld-musl-*"})
    if (fnmatch(pattern, base.c_str(), 0) == 0) return true;
  return false;
}

std::string loader_program(const std::vector<std::string>& argv) {
  // glibc's and musl's ld.so options that take the next argument as their value
  static const char* const kWithValue[] = {"--library-path", "--inhibit-rpath",         "--audit",
                                           "--preload",      "--argv0",                 "--glibc-hwcaps-prepend",
                                           "--glibc-hwcaps-mask"};
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--") return i + 1 < argv.size() ? argv[i + 1] : "";
    if (a.rfind("--", 0) != 0) return a;
    // --opt=VALUE (musl) is one argument; --list, --verify, --inhibit-cache, ... take none
    if (a.find('=') != std::string::npos) continue;
    if (std::find_if(std::begin(kWithValue), std::end(kWithValue), [&](const char* o) { return a == o; }) !=
        std::end(kWithValue))
      ++i;
  }
  return "";
}

// The rules, compiled. Path globs with `~` depend on the process's home, so the file matchers
// are compiled per home on first use (a handful of users on a host).
class CompiledRules {
 public:
  explicit CompiledRules(const RuleSet& r) : rules(r) {
    for (uint32_t i = 0; i < r.egress.allow.size(); ++i) compile_egress(r.egress.allow[i], i, allow_cidrs, allow_hosts);
    for (uint32_t i = 0; i < r.egress.deny.size(); ++i) compile_egress(r.egress.deny[i], i, deny_cidrs, deny_hosts);
    for (const auto* list : {&r.egress.allow, &r.egress.deny}) {
      auto& ports = list == &r.egress.allow ? allow_ports : deny_ports;
      for (const auto& rule : *list) {
        PortSet p;
        for (const auto& text : rule.ports) check(p.add(text), rule.meta);
        ports.push_back(std::move(p));
      }
    }
    for (const auto& v : r.volume) {
      HostSet except;
      for (const auto& h : v.except_hosts) check(except.add(h, 0), v.meta);
      volume_except.push_back(std::move(except));
    }
    auto index = [&](const RuleMeta& m) { by_id.emplace(m.id, &m); };
    // `rules` (the member copy) owns the metas the index points into
    for (const auto& e : rules.egress.allow) index(e.meta);
    for (const auto& e : rules.egress.deny) index(e.meta);
    if (rules.egress.default_deny) index(rules.egress.unapproved);
    for (const auto& f : rules.file_deny) index(f.meta);
    for (const auto& f : rules.file_scope) index(f.meta);
    for (const auto& x : rules.exec) index(x.meta);
    for (const auto& v : rules.volume) index(v.meta);
    for (const auto& e : rules.evasion) index(e.meta);
    for (const auto& e : rules.env) index(e.meta);
    for (const auto& d : rules.dns_tunnel) index(d.meta);
    for (uint32_t i = 0; i < r.exec.size(); ++i) {
      for (const auto& b : r.exec[i].binaries) {
        if (b.find('/') != std::string::npos)
          check(exec_globs.add(b, i), r.exec[i].meta);
        else
          exec_names.emplace(b, i);
      }
    }
  }

  struct FileMatchers {
    PathGlobSet deny;                 // value: index in file_deny
    std::vector<PathGlobSet> scopes;  // one per scope rule: its allow globs
    // Each deny glob's directory before its first wildcard (/root/.openclaw/credentials for
    // ~/.openclaw/credentials/**), with its rule: a rename of that directory or of one above it
    // moves what the rule protects to where no rule names it.
    std::vector<std::pair<std::string, uint32_t>> deny_dirs;
  };

  // The directory part of `glob` before its first wildcard ("" when it starts with one).
  static std::string literal_dir(const std::string& glob) {
    const size_t wild = glob.find_first_of("*?[");
    const size_t slash = glob.rfind('/', wild == std::string::npos ? glob.size() : wild);
    return slash == std::string::npos || slash == 0 ? std::string() : glob.substr(0, slash);
  }

  // `~` is the uid's home from the password database and, when the tree's root process has a
  // different HOME, that one too: a changed HOME can add a home but never hide the real one.
  const FileMatchers& files_for(uint32_t uid, const std::string& process_home) {
    const std::string key = std::to_string(uid) + ":" + process_home;
    auto it = by_home.find(key);
    if (it != by_home.end()) return it->second;
    if (by_home.size() > 256) by_home.clear();
    std::vector<std::string> homes{home_of(uid)};
    if (!process_home.empty() && process_home[0] == '/' && process_home != homes[0]) homes.push_back(process_home);
    FileMatchers m;
    for (const auto& home : homes) {
      for (uint32_t i = 0; i < rules.file_deny.size(); ++i)
        for (const auto& g : rules.file_deny[i].paths) {
          const std::string expanded = expand_home(g, home);
          add_glob(m.deny, expanded, i);
          if (std::string d = literal_dir(expanded); !d.empty()) m.deny_dirs.emplace_back(std::move(d), i);
        }
    }
    for (const auto& sc : rules.file_scope) {
      PathGlobSet allow;
      for (const auto& home : homes)
        for (const auto& g : sc.allow) add_glob(allow, expand_home(g, home), 0);
      m.scopes.push_back(std::move(allow));
    }
    return by_home.emplace(key, std::move(m)).first->second;
  }

  RuleSet rules;
  process::RoleModel roles{rules.roles};
  CidrSet allow_cidrs, deny_cidrs;
  HostSet allow_hosts, deny_hosts;
  std::vector<PortSet> allow_ports, deny_ports;
  std::multimap<std::string, uint32_t> exec_names;
  std::vector<HostSet> volume_except;  // one per volume rule
  std::unordered_map<std::string, const RuleMeta*> by_id;
  PathGlobSet exec_globs;
  std::unordered_map<std::string, FileMatchers> by_home;

 private:
  // A home from HOME may make a glob invalid ("//", ".."): such a glob is skipped, not fatal.
  static void add_glob(PathGlobSet& set, const std::string& glob, uint32_t value) { (void)set.add(glob, value); }
  static void check(const std::string& err, const RuleMeta& m) {
    if (!err.empty()) throw std::invalid_argument("rule " + m.id + ": " + err);
  }
  static void compile_egress(const EgressRule& r, uint32_t i, CidrSet& cidrs, HostSet& hosts) {
    for (const auto& c : r.cidrs) check(cidrs.add(c, i), r.meta);
    for (const auto& h : r.hosts) check(hosts.add(h, i), r.meta);
  }
};

Engine::Engine(const RuleSet& rules) : rules_(std::make_unique<CompiledRules>(rules)) {}
Engine::~Engine() = default;

Mode Engine::mode() const { return rules_->rules.mode; }

bool Engine::is_secret_name(const std::string& name) const {
  for (const auto& pattern : rules_->rules.secret_names)
    if (fnmatch(pattern.c_str(), name.c_str(), 0) == 0) return true;
  return false;
}

bool Engine::annotate(v1::Event& ev) const {
  if (ev.kind() != v1::Event::ENV) return true;
  v1::EnvRead* e = ev.mutable_env();
  if (!annotate_env_names(e)) return false;
  // who read it, as the rules see it (only for what is written)
  e->set_role(role_of(ev.process()));
  return true;
}

bool Engine::annotate_env_names(v1::EnvRead* e) const {
  if (e->op() == "enumerate" || e->op() == "ptrace") return true;
  if (!e->name().empty()) {
    e->set_secret(is_secret_name(e->name()));
    return e->secret();
  }
  // an exec's environment: only the secret names are kept (the others are nobody's business)
  std::vector<std::string> secret;
  for (const auto& n : e->names())
    if (is_secret_name(n)) secret.push_back(n);
  e->clear_names();
  for (auto& n : secret) e->add_names(std::move(n));
  e->set_secret(!secret.empty());
  return e->secret();
}

bool Engine::judges_env_reads_of(const std::string& role) const {
  for (const auto& r : rules_->rules.env)
    if ((r.what == "read" || r.what == "enumerate") && role_allowed(r.roles, role)) return true;
  return false;
}

void Engine::evaluate_env(const v1::Event& ev, std::vector<v1::Event>& out) {
  const v1::EnvRead& e = ev.env();
  const std::string& op = e.op();
  std::string what;
  if (op == "enumerate") what = "enumerate";
  else if (op == "ptrace") what = "ptrace";
  else if (op == "exec") what = e.names_size() ? "handed" : "";
  else if (e.secret() && (!e.has_set() || e.set())) what = "read";  // an unset variable leaks nothing
  if (what.empty()) return;
  const std::string role = role_of(ev.process());
  v1::Evidence evidence;
  if (!e.name().empty()) evidence.set_env_name(e.name());
  for (const auto& n : e.names()) evidence.add_env_names(n);
  if (e.target_pid()) evidence.set_target_pid(e.target_pid());
  SecretRead secret;
  for (const auto& r : rules_->rules.env) {
    if (r.what != what || !role_allowed(r.roles, role)) continue;
    Hit hit{&r.meta, evidence, what == "read" || what == "enumerate"};
    if (hit.secret) {
      secret.rule_ids.push_back(r.meta.id);
      secret.evidence = evidence;
    }
    raise(ev, role, std::move(hit), out);
  }
  if (!secret.rule_ids.empty()) {
    secret.ns = v1::timestamp_ns(ev.time());
    secrets_[tool_pid(ev.process())] = std::move(secret);
  }
}

std::vector<uint32_t> Engine::exec_rules_for(const std::string& path) const {
  std::vector<uint32_t> hits = rules_->exec_globs.match(path);
  auto range = rules_->exec_names.equal_range(basename_of(path));
  for (auto it = range.first; it != range.second; ++it) hits.push_back(it->second);
  return hits;
}

const RuleMeta* Engine::rule(const std::string& id) const {
  auto it = rules_->by_id.find(id);
  return it == rules_->by_id.end() ? nullptr : it->second;
}

bool Engine::is_final(const std::string& role) const { return rules_->roles.is_final(rules_->roles.index(role)); }

bool Engine::may_kill(const std::string& role) const { return role.empty() || is_final(role); }

uint32_t Engine::tool_pid(const v1::Process& p) const {
  // The tool run is the ancestor (or the process itself) whose parent's role is not final: the
  // broker's `sh -c`, with everything it started.
  uint32_t candidate = p.pid();
  for (const auto& a : p.lineage()) {
    if (!rules_->roles.is_final(rules_->roles.index(a.role()))) return candidate;
    candidate = a.pid();
  }
  return p.pid();
}

void Engine::emit(const v1::Event& ev, const std::string& role, const Hit& hit, uint32_t count, bool folded,
                  int64_t first_ns, int64_t last_ns, std::vector<v1::Event>& out) {
  v1::Event a;
  *a.mutable_time() = ev.time();
  if (folded) v1::set_timestamp(last_ns, a.mutable_time());
  a.set_kind(v1::Event::ALERT);
  *a.mutable_process() = ev.process();
  // its evidence is the event's text, redacted (process/redactor.h)
  if (ev.redacted() || ev.process().redacted()) a.set_redacted(true);
  auto* al = a.mutable_alert();
  al->set_rule_id(hit.meta->id);
  al->set_severity(to_string(hit.attempt ? std::min(hit.meta->severity, Severity::kInfo) : hit.meta->severity));
  al->set_action(to_string(hit.meta->action));
  al->set_outcome(hit.outcome);
  if (!may_kill(role) && hit.meta->action == Action::kKill && mode() == Mode::kEnforce && hit.outcome == "alerted")
    al->set_mechanism("not killed: the assistant's own process (role " + role +
                      "); a kill rule refuses its operations where BPF LSM can, and never kills it");
  else if (!hit.mechanism.empty())
    al->set_mechanism(hit.mechanism);
  al->set_description(hit.meta->description);
  al->set_role(role);
  al->set_count(count);
  v1::set_timestamp(first_ns, al->mutable_first_seen());
  v1::set_timestamp(last_ns, al->mutable_last_seen());
  *al->mutable_evidence() = hit.evidence;
  for (const auto& id : hit.related_ids) al->add_related_rule_ids(id);
  if (!hit.related_ids.empty()) *al->mutable_related_evidence() = hit.related_evidence;
  al->set_mode(mode() == Mode::kEnforce && dry_run_ ? "dry-run" : to_string(mode()));
  al->set_tool_pid(rules_->roles.is_final(rules_->roles.index(role)) ? tool_pid(ev.process()) : 0);
  al->set_folded(folded);
  out.push_back(std::move(a));
  ++stats_.alerts;
}

void Engine::enforce_outcome(const v1::Event& ev, Hit& hit, bool* consumed) const {
  if (!ev.has_enforcement() || ev.enforcement().rule_id() != hit.meta->id) return;
  hit.take_outcome(ev.enforcement());
  *consumed = true;
}

void Engine::apply_enforcement(const v1::Event& ev, const std::string& role, bool consumed,
                               std::vector<v1::Event>& out) {
  if (!ev.has_enforcement() || consumed) return;
  const v1::Enforcement& e = ev.enforcement();
  // a guard event is its rule's alert; on other events only a verdict that did something is news
  if (ev.kind() != v1::Event::GUARD && e.verdict() == "matched") return;
  // No rule of that id: a policy generation that is gone, or fail-closed (reported from the
  // kernel's count, its records being the likeliest lost). The event itself says what happened.
  const RuleMeta* meta = rule(e.rule_id());
  if (!meta) return;
  Hit hit{meta, {}, false};
  if (ev.kind() == v1::Event::NET) {
    hit.evidence = net_evidence(ev.net());
  } else if (ev.kind() == v1::Event::FILE) {
    hit.evidence.set_path(ev.file().path());
    hit.evidence.set_access(ev.file().access());
    if (ev.file().op() == v1::FileOp::LINK) hit.evidence.set_via("hard link");
    if (ev.file().op() == v1::FileOp::MOUNT) hit.evidence.set_via("bind mount");
  } else if (ev.kind() == v1::Event::EXEC) {
    hit.evidence.set_exe(ev.exec().filename());
  } else if (ev.kind() == v1::Event::GUARD) {
    const v1::Guard& g = ev.guard();
    if (g.what() == "egress_budget") {
      hit.evidence.set_address(g.address());
      hit.evidence.set_port(g.port());
      hit.evidence.set_bytes(g.bytes());
    } else if (g.what() == "listen") {
      hit.evidence.set_address(g.address());
      hit.evidence.set_port(g.port());
      hit.evidence.set_via("listen");
    } else if (!g.syscall().empty()) {
      // compat_syscall, mount, namespace, shared_files, process_access: what was asked for
      hit.evidence.set_via(g.detail().empty() ? g.syscall() : g.syscall() + " " + g.detail());
      if (g.target_pid()) hit.evidence.set_target_pid(g.target_pid());
    } else if (!g.socket().empty()) {
      hit.evidence.set_protocol(g.socket());
    } else if (!g.operation().empty()) {
      hit.evidence.set_via("io_uring " + g.operation());
    }
  }
  hit.take_outcome(e);
  raise(ev, role, std::move(hit), out);
}

void Engine::raise(const v1::Event& ev, const std::string& role, Hit hit, std::vector<v1::Event>& out) {
  const int64_t now = v1::timestamp_ns(ev.time());
  // a tool run's shells and programs are one subject: their repeats fold together
  const uint32_t subject =
      rules_->roles.is_final(rules_->roles.index(role)) ? tool_pid(ev.process()) : ev.process().pid();
  const std::string key = hit.meta->id + "/" + std::to_string(subject);
  auto it = folds_.find(key);
  if (it != folds_.end() && now - it->second.window_start_ns < static_cast<int64_t>(rules_->rules.alerts.fold_window_ns)) {
    FoldState& f = it->second;
    f.repeats++;
    f.last_ns = now;
    f.last_event = ev;
    std::string id = hit.evidence.SerializeAsString();
    if (std::find(f.seen.begin(), f.seen.end(), id) == f.seen.end()) {
      if (f.other.size() < kKeptEvidence) {
        f.other.push_back(hit.evidence);
        f.seen.push_back(std::move(id));
      } else if (f.dropped_seen.size() >= kDroppedTracked ||
                 f.dropped_seen.insert(std::hash<std::string>{}(id)).second) {
        // counted once per distinct piece (past kDroppedTracked of them, every repeat counts)
        ++f.other_dropped;
      }
    }
    f.hit = std::move(hit);
    ++stats_.folded;
    return;
  }
  if (it != folds_.end() && it->second.repeats > 0) emit_summary(it->second, out);
  if (folds_.size() > 65536) folds_.clear();  // bounded; at worst a repeat alerts again
  FoldState& f = folds_[key];
  f = FoldState{now, now, 0, v1::Event(), role, hit, {hit.evidence.SerializeAsString()}, {}, 0, {}};
  emit(ev, role, hit, 1, false, now, now, out);
}

void Engine::emit_summary(const FoldState& f, std::vector<v1::Event>& out) {
  emit(f.last_event, f.role, f.hit, f.repeats, true, f.window_start_ns, f.last_ns, out);
  auto* al = out.back().mutable_alert();
  for (const auto& e : f.other) *al->add_other_evidence() = e;
  al->set_other_evidence_dropped(f.other_dropped);
}

void Engine::tick(int64_t now_ns, std::vector<v1::Event>& out) {
  const int64_t window = static_cast<int64_t>(rules_->rules.alerts.fold_window_ns);
  for (auto it = folds_.begin(); it != folds_.end();) {
    if (now_ns - it->second.window_start_ns < window) {
      ++it;
      continue;
    }
    if (it->second.repeats > 0) emit_summary(it->second, out);
    it = folds_.erase(it);
  }
  const int64_t corr = static_cast<int64_t>(rules_->rules.alerts.correlation_window_ns);
  for (auto it = secrets_.begin(); it != secrets_.end();)
    it = now_ns - it->second.ns > corr ? secrets_.erase(it) : std::next(it);
}

void Engine::correlate(const v1::Event& ev, const std::string& role, const Hit& egress_hit, std::vector<v1::Event>& out) {
  auto it = secrets_.find(tool_pid(ev.process()));
  if (it == secrets_.end()) return;
  const int64_t now = v1::timestamp_ns(ev.time());
  if (now - it->second.ns > static_cast<int64_t>(rules_->rules.alerts.correlation_window_ns)) return;
  static const RuleMeta kExfil = [] {
    RuleMeta m;
    m.id = "secret-exfiltration";
    m.severity = Severity::kCritical;
    m.action = Action::kAlert;
    m.description = "a secret was read, then sent towards an unapproved endpoint";
    return m;
  }();
  Hit hit{&kExfil, egress_hit.evidence, false};
  hit.related_ids = it->second.rule_ids;
  hit.related_ids.push_back(egress_hit.meta->id);
  hit.related_evidence = it->second.evidence;
  raise(ev, role, std::move(hit), out);
}

namespace {

// The domain a name's data would be sent to: its last two labels (three when the second-level
// label is a short public suffix part like co.uk's "co"). Good enough to group a tunnel's names.
std::string tunnel_zone(const std::string& name) {
  std::vector<std::string> labels;
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    if (dot > start) labels.push_back(name.substr(start, dot - start));
    start = dot + 1;
  }
  if (labels.size() <= 2) return name;
  size_t keep = labels[labels.size() - 2].size() <= 3 && labels.back().size() == 2 ? 3 : 2;
  std::string zone;
  for (size_t i = labels.size() - keep; i < labels.size(); ++i) zone += (zone.empty() ? "" : ".") + labels[i];
  return zone;
}

size_t longest_label(const std::string& name) {
  size_t best = 0, run = 0;
  for (char c : name) {
    run = c == '.' ? 0 : run + 1;
    best = std::max(best, run);
  }
  return best;
}

}  // namespace

// Names a tool run asked the resolver for, per domain: data leaves in the names themselves.
void Engine::evaluate_dns(const v1::Event& ev, std::vector<v1::Event>& out) {
  const v1::Dns& d = ev.dns();
  if (d.query().empty() || rules_->rules.dns_tunnel.empty()) return;
  std::string name = d.query();
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!name.empty() && name.back() == '.') name.pop_back();
  const std::string role = role_of(ev.process());
  const int64_t now = v1::timestamp_ns(ev.time());
  const std::string zone = tunnel_zone(name);
  for (const auto& r : rules_->rules.dns_tunnel) {
    if (!role_allowed(r.roles, role)) continue;
    const std::string key = r.meta.id + "/" + std::to_string(tool_pid(ev.process())) + "/" + zone;
    DnsNames& n = dns_names_[key];
    if (now - n.window_start_ns >= static_cast<int64_t>(r.window_ns)) n = DnsNames{now, {}, false};
    if (n.names.size() <= r.max_names) n.names.insert(name);
    const bool long_label = longest_label(name) > r.max_label;
    const bool many = n.names.size() > r.max_names;
    if (!long_label && !(many && !n.alerted)) continue;
    if (many) n.alerted = true;
    Hit hit{&r.meta, {}, false};
    hit.evidence.set_hostname(name);
    hit.evidence.set_via(long_label ? "a label of " + std::to_string(longest_label(name)) + " characters under " + zone
                                    : std::to_string(n.names.size()) + " distinct names under " + zone +
                                          " within the window");
    raise(ev, role, std::move(hit), out);
  }
  if (dns_names_.size() > 4096) dns_names_.clear();  // bounded; at worst a tunnel is counted again
}

void Engine::evaluate(const v1::Event& ev, std::vector<v1::Event>& out) {
  ++stats_.evaluated;
  const v1::Process& p = ev.process();
  bool consumed = false;
  switch (ev.kind()) {
    case v1::Event::FILE: {
      const v1::FileOp& f = ev.file();
      const std::string& role = role_of(p);
      const auto& m = rules_->files_for(p.uid(), p.home());
      // A failed operation did nothing to the file: reported (a probe of a secret path is worth
      // knowing) at most at info, and it arms no correlation.
      const bool failed = f.has_result() && f.result() < 0;
      // Reading a secret (an open for reading that succeeded) arms the correlation.
      const bool read_ok = f.op() == v1::FileOp::OPEN && (f.access() == "read" || f.access() == "read_write") && !failed;
      for (const auto& name : file_names(f)) {
        const std::string* path = name.first;  // (a lambda cannot capture a structured binding)
        const uint8_t access = name.second;
        if (path->empty()) continue;
        // A process's own /proc/PID is /proc/self: both names are judged.
        const std::string self = proc_self_alias(*path, p.pid());
        auto match = [&](const PathGlobSet& set) {
          std::vector<uint32_t> hits = set.match(*path);
          if (!self.empty()) {
            auto more = set.match(self);
            hits.insert(hits.end(), more.begin(), more.end());
            std::sort(hits.begin(), hits.end());
            hits.erase(std::unique(hits.begin(), hits.end()), hits.end());
          }
          return hits;
        };
        SecretRead secret;
        for (uint32_t i : match(m.deny)) {
          const FileRule& r = rules_->rules.file_deny[i];
          if (!role_allowed(r.roles, role) || (r.access && !(r.access & access))) continue;
          Hit hit{&r.meta, {}, r.secret};
          hit.attempt = failed;
          hit.evidence.set_path(*path);
          if (f.has_result()) hit.evidence.set_result(f.result());
          if (failed) hit.evidence.set_error(f.error());
          hit.evidence.set_access(f.access());
          if (f.op() == v1::FileOp::CONNECT) hit.evidence.set_via("unix socket");
          if (f.op() == v1::FileOp::LINK || f.op() == v1::FileOp::MOUNT) {
            // the file read later under the new name is this one: path rules see it here
            hit.evidence.set_via(f.op() == v1::FileOp::LINK ? "hard link" : "bind mount");
            if (path == &f.path()) hit.evidence.set_new_path(f.new_path());
          }
          enforce_outcome(ev, hit, &consumed);
          if (r.secret && read_ok) {
            secret.rule_ids.push_back(r.meta.id);
            secret.evidence = hit.evidence;
          }
          raise(ev, role, std::move(hit), out);
        }
        if (!secret.rule_ids.empty()) {
          secret.ns = v1::timestamp_ns(ev.time());
          secrets_[tool_pid(p)] = std::move(secret);
        }
        // A rename of a directory at or above what a rule protects (`mv ~/.openclaw ~/x`, a
        // whole workspace swapped in): the protected files move with it, to names no rule has.
        if (f.op() == v1::FileOp::RENAME && !failed) {
          std::vector<uint32_t> moved;
          for (const auto& [dir, i] : m.deny_dirs)
            if (dir.size() > path->size() && dir.compare(0, path->size(), *path) == 0 && dir[path->size()] == '/')
              moved.push_back(i);
          std::sort(moved.begin(), moved.end());
          moved.erase(std::unique(moved.begin(), moved.end()), moved.end());
          for (uint32_t i : moved) {
            const FileRule& r = rules_->rules.file_deny[i];
            if (!role_allowed(r.roles, role) || (r.access && !(r.access & kAccessWrite))) continue;
            Hit hit{&r.meta, {}, false};
            hit.evidence.set_path(*path);
            hit.evidence.set_new_path(path == &f.path() ? f.new_path() : f.path());
            hit.evidence.set_via("rename of a directory holding protected files");
            enforce_outcome(ev, hit, &consumed);
            raise(ev, role, std::move(hit), out);
          }
        }
        // Scope: only what succeeded (failed probes of library paths are noise).
        if (failed) continue;
        for (size_t s = 0; s < rules_->rules.file_scope.size(); ++s) {
          const ScopeRule& sc = rules_->rules.file_scope[s];
          if (!role_allowed(sc.roles, role) || !(sc.access & access) || !match(m.scopes[s]).empty()) continue;
          // a program reading its own executable (Node does) reads nothing new
          if (access == kAccessRead && *path == p.exe()) continue;
          Hit hit{&sc.meta, {}, false};
          hit.evidence.set_path(*path);
          hit.evidence.set_access(f.access());
          raise(ev, role, std::move(hit), out);
        }
      }
      break;
    }
    case v1::Event::EXEC: {
      const v1::Exec& x = ev.exec();
      const std::string role = role_of(p);
      const std::string argv = join_argv(x.argv());
      std::vector<uint32_t> hits = exec_rules_for(x.filename());
      for (uint32_t i = 0; i < rules_->rules.exec.size(); ++i)
        for (const auto& pat : rules_->rules.exec[i].argv_contains)
          if (argv.find(pat) != std::string::npos) hits.push_back(i);
      // ld.so PROGRAM: the kernel execs the loader only; the rules judge the program it runs too
      std::string program;
      if (is_dynamic_loader(x.filename())) {
        program = loader_program({x.argv().begin(), x.argv().end()});
        if (!program.empty()) {
          std::vector<uint32_t> more = exec_rules_for(program);
          hits.insert(hits.end(), more.begin(), more.end());
        }
      }
      std::sort(hits.begin(), hits.end());
      hits.erase(std::unique(hits.begin(), hits.end()), hits.end());
      for (uint32_t i : hits) {
        const ExecRule& r = rules_->rules.exec[i];
        if (!role_allowed(r.roles, role)) continue;
        Hit hit{&r.meta, {}, false};
        hit.evidence.set_exe(x.filename());
        for (const auto& a : x.argv()) hit.evidence.add_argv(a);
        if (!program.empty()) {
          hit.evidence.set_via("dynamic loader");
          hit.evidence.set_program(program);
        }
        enforce_outcome(ev, hit, &consumed);
        raise(ev, role, std::move(hit), out);
      }
      break;
    }
    case v1::Event::NET: {
      const v1::NetOp& n = ev.net();
      const std::string role = role_of(p);
      const v1::Evidence evidence = net_evidence(n);
      const uint16_t port = static_cast<uint16_t>(n.port());
      auto applies = [&](const EgressRule& r, const PortSet& ports) {
        return role_allowed(r.roles, role) && (r.ports.empty() || ports.contains(port));
      };
      // Deny rules fire whether or not something else allows the destination.
      std::vector<uint32_t> deny = rules_->deny_cidrs.match(n.address());
      if (!n.hostname().empty()) {
        auto h = rules_->deny_hosts.match(n.hostname());
        deny.insert(deny.end(), h.begin(), h.end());
      }
      std::sort(deny.begin(), deny.end());
      deny.erase(std::unique(deny.begin(), deny.end()), deny.end());
      bool denied = false;
      for (uint32_t i : deny) {
        const EgressRule& r = rules_->rules.egress.deny[i];
        if (!applies(r, rules_->deny_ports[i])) continue;
        denied = true;
        Hit hit{&r.meta, evidence, false};
        enforce_outcome(ev, hit, &consumed);
        raise(ev, role, hit, out);
        correlate(ev, role, hit, out);
      }
      if (denied || !rules_->rules.egress.default_deny) break;
      bool allowed = false;
      for (uint32_t i : rules_->allow_cidrs.match(n.address()))
        allowed |= applies(rules_->rules.egress.allow[i], rules_->allow_ports[i]);
      // The name the process asked for, as the kernel judges it in enforce mode: an alias whose
      // CNAME chain ends at an approved name is not approved itself (the chain is evidence).
      if (!allowed && !n.hostname().empty())
        for (uint32_t i : rules_->allow_hosts.match(n.hostname()))
          allowed |= applies(rules_->rules.egress.allow[i], rules_->allow_ports[i]);
      if (!allowed) {
        Hit hit{&rules_->rules.egress.unapproved, evidence, false};
        enforce_outcome(ev, hit, &consumed);
        raise(ev, role, hit, out);
        correlate(ev, role, hit, out);
      }
      break;
    }
    case v1::Event::ENV:
      evaluate_env(ev, out);
      break;
    case v1::Event::DNS:
      evaluate_dns(ev, out);
      break;
    default:
      break;
  }
  if (ev.has_enforcement()) apply_enforcement(ev, role_of(p), consumed, out);
}

}  // namespace clawfence::policy
