#include "policy/rules.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <tuple>
#include <sstream>

#include "clawfence/abi.h"
#include "policy/matchers.h"

namespace clawfence::policy {
namespace fs = std::filesystem;

std::string RuleError::to_string() const {
  std::ostringstream out;
  out << file;
  if (line > 0) out << ":" << line << ":" << column;
  out << ": " << message;
  return out.str();
}

const char* to_string(Mode m) { return m == Mode::kEnforce ? "enforce" : "monitor"; }

const char* to_string(Severity s) {
  switch (s) {
    case Severity::kInfo: return "info";
    case Severity::kWarning: return "warning";
    case Severity::kError: return "error";
    case Severity::kCritical: return "critical";
  }
  return "?";
}

const char* to_string(Action a) {
  switch (a) {
    case Action::kAlert: return "alert";
    case Action::kBlock: return "block";
    case Action::kKill: return "kill";
  }
  return "?";
}

size_t RuleSet::rule_count() const {
  return egress.allow.size() + egress.deny.size() + (egress.default_deny ? 1 : 0) + file_deny.size() +
         file_scope.size() + exec.size() + volume.size() + evasion.size() + env.size() + dns_tunnel.size();
}

bool parse_duration(const std::string& text, uint64_t* ns) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 12) return false;
  uint64_t n = std::stoull(text.substr(0, i));
  const std::string unit = text.substr(i);
  uint64_t mult;
  if (unit == "ms")
    mult = 1'000'000ull;
  else if (unit == "s")
    mult = 1'000'000'000ull;
  else if (unit == "m")
    mult = 60'000'000'000ull;
  else if (unit == "h")
    mult = 3'600'000'000'000ull;
  else
    return false;
  if (n > UINT64_MAX / mult) return false;
  *ns = n * mult;
  return n > 0;
}

bool parse_size(const std::string& text, uint64_t* bytes) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 15) return false;
  uint64_t n = std::stoull(text.substr(0, i));
  static const std::pair<const char*, uint64_t> kUnits[] = {
      {"", 1},           {"B", 1},           {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30},
      {"KB", 1000ull},   {"MB", 1000000ull}, {"GB", 1000000000ull},
  };
  const std::string unit = text.substr(i);
  for (const auto& [name, mult] : kUnits) {
    if (unit == name) {
      if (n > UINT64_MAX / mult) return false;
      *bytes = n * mult;
      return n > 0;
    }
  }
  return false;
}

const EvasionWhat kEvasionWhats[] = {
    {"io_uring", CF_EVASION_IO_URING},          // file operations submitted through a ring
    {"raw_socket", CF_EVASION_RAW_SOCKET},      // any socket but TCP/UDP over inet, unix or netlink
    {"compat_syscall", CF_EVASION_COMPAT},      // 32-bit (int $0x80) and x32 syscalls
    {"mount", CF_EVASION_MOUNT},                // mount, open_tree, move_mount, fsmount, mount_setattr, umount
    {"namespace", CF_EVASION_NAMESPACE},        // unshare, setns, clone with CLONE_NEW*
    {"shared_files", CF_EVASION_SHARED_FILES},  // clone(CLONE_FILES) without CLONE_THREAD
    {"process_access", CF_EVASION_PROCESS_ACCESS},  // ptrace attach, process_vm_readv/writev, pidfd_getfd
    {"listen", CF_EVASION_LISTEN},              // listen() on an address that is not loopback
};
const size_t kEvasionWhatCount = sizeof(kEvasionWhats) / sizeof(kEvasionWhats[0]);

bool evasion_what_known(const std::string& what) { return evasion_slot(what) >= 0; }

int evasion_slot(const std::string& what) {
  for (size_t i = 0; i < kEvasionWhatCount; ++i)
    if (what == kEvasionWhats[i].name) return kEvasionWhats[i].slot;
  return -1;
}

std::string evasion_what_list() {
  std::string s;
  for (size_t i = 0; i < kEvasionWhatCount; ++i) s += (i ? ", " : "") + std::string(kEvasionWhats[i].name);
  return s;
}

std::vector<std::string> resolv_conf_nameservers(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string key, value;
    if (ss >> key >> value && key == "nameserver") {
      // a link-local IPv6 server may carry a zone (fe80::1%eth0): the address is what answers
      const size_t zone = value.find('%');
      out.push_back(value.substr(0, zone));
    }
  }
  return out;
}

const std::vector<std::string>& dns_resolvers(const RuleSet& rules, const std::vector<std::string>& system) {
  return rules.egress.dns_resolvers_set ? rules.egress.dns_resolvers : system;
}

namespace {

// `cidr: [resolvers]` stands for the DNS resolvers the rules (or the host) name: DNS goes to them
// only, so a listener on port 53 elsewhere is no way out.
void expand_resolvers(RuleSet& rules) {
  const std::vector<std::string> servers = dns_resolvers(rules, resolv_conf_nameservers());
  for (auto* list : {&rules.egress.allow, &rules.egress.deny})
    for (EgressRule& r : *list) {
      std::vector<std::string> cidrs;
      for (const auto& c : r.cidrs) {
        if (c == kResolversToken)
          cidrs.insert(cidrs.end(), servers.begin(), servers.end());
        else
          cidrs.push_back(c);
      }
      r.cidrs = std::move(cidrs);
    }
}

}  // namespace

namespace {

// Top-level sections and what each rule kind may say; anything else is an error.
const std::set<std::string> kRuleKeys = {"id", "severity", "action", "description"};

class Reader {
 public:
  Reader(std::string name, LoadResult& out) : name_(std::move(name)), out_(out) {}

  void read(const YAML::Node& root) {
    if (!root.IsMap()) return error(root, "a rule file is a map (version, mode, targets, ...)");
    for (const auto& kv : root) {
      const std::string key = scalar(kv.first);
      const YAML::Node& v = kv.second;
      if (key == "version") {
        if (!v.IsScalar() || v.Scalar() != "1") error(v, "version: only version 1 is known");
      } else if (key == "mode") {
        std::string m = v.IsScalar() ? v.Scalar() : "";
        if (m == "monitor" || m == "enforce") {
          out_.rules.mode = m == "enforce" ? Mode::kEnforce : Mode::kMonitor;
          out_.rules.mode_set = true;
        } else {
          error(v, "mode: expected monitor or enforce");
        }
      } else if (key == "targets") {
        for_each_item(v, "targets", [&](const YAML::Node& t) { read_target(t); });
      } else if (key == "roles") {
        read_roles(v);
      } else if (key == "egress") {
        read_egress(v);
      } else if (key == "files") {
        read_files(v);
      } else if (key == "exec") {
        for_each_item(v, "exec", [&](const YAML::Node& r) { read_exec(r); });
      } else if (key == "env") {
        read_env(v);
      } else if (key == "volume") {
        for_each_item(v, "volume", [&](const YAML::Node& r) { read_volume(r); });
      } else if (key == "evasion") {
        for_each_item(v, "evasion", [&](const YAML::Node& r) { read_evasion(r); });
      } else if (key == "dns_tunnel") {
        for_each_item(v, "dns_tunnel", [&](const YAML::Node& r) { read_dns_tunnel(r); });
      } else if (key == "fail_closed") {
        const std::string b = scalar(v);
        if (b == "true" || b == "false") {
          out_.rules.fail_closed = b == "true";
          out_.rules.fail_closed_set = true;
        } else {
          error(v, "fail_closed: expected true or false");
        }
      } else if (key == "alerts") {
        read_alerts(v);
      } else {
        error(kv.first, "unknown top-level key '" + key +
                            "' (expected version, mode, fail_closed, targets, roles, egress, files, exec, env, "
                            "volume, evasion, dns_tunnel, alerts)");
      }
    }
  }

  void error(const YAML::Node& at, const std::string& msg) { error(at.Mark(), msg); }
  void error(const YAML::Mark& m, const std::string& msg) {
    out_.errors.push_back({name_, m.line + 1, m.column + 1, msg});
  }

 private:
  static std::string scalar(const YAML::Node& n) { return n.IsScalar() ? n.Scalar() : std::string(); }

  void for_each_item(const YAML::Node& n, const std::string& what, const std::function<void(const YAML::Node&)>& f) {
    if (!n.IsSequence()) return error(n, what + ": expected a list");
    for (const auto& item : n) f(item);
  }

  // A string, or a list of strings. Where each came from is kept in marks_, for messages.
  std::vector<std::string> strings(const YAML::Node& n, const std::string& what) {
    std::vector<std::string> out;
    marks_.clear();
    if (n.IsScalar()) {
      out.push_back(n.Scalar());
      marks_[out.back()] = n.Mark();
    } else if (n.IsSequence()) {
      for (const auto& item : n) {
        if (!item.IsScalar()) {
          error(item, what + ": expected a string");
          continue;
        }
        out.push_back(item.Scalar());
        marks_.emplace(out.back(), item.Mark());
      }
    } else {
      error(n, what + ": expected a string or a list of strings");
    }
    for (const auto& s : out)
      if (s.empty()) error(n, what + ": empty string");
    return out;
  }

  // Checks the keys of a map node; returns false (after an error) if it is not a map.
  bool check_keys(const YAML::Node& n, const std::string& what, const std::set<std::string>& allowed) {
    if (!n.IsMap()) {
      error(n, what + ": expected a map");
      return false;
    }
    for (const auto& kv : n) {
      const std::string k = scalar(kv.first);
      if (!allowed.count(k)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        error(kv.first, what + ": unknown key '" + k + "' (expected " + list + ")");
      }
    }
    return true;
  }

  static std::set<std::string> with_rule_keys(std::set<std::string> keys) {
    keys.insert(kRuleKeys.begin(), kRuleKeys.end());
    return keys;
  }

  RuleMeta read_meta(const YAML::Node& n, const std::string& what, Severity default_severity) {
    RuleMeta m;
    m.file = name_;
    m.line = n.Mark().line + 1;
    m.severity = default_severity;
    if (const auto id = n["id"]) {
      m.id = scalar(id);
      bool ok = !m.id.empty() && std::all_of(m.id.begin(), m.id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      });
      if (!ok) error(id, what + ": id must be letters, digits, '-', '_' or '.'");
      else if (!ids_.insert(m.id).second || implicit_ids_.count(m.id))
        error(id, what + ": duplicate rule id '" + m.id + "'");
    } else {
      error(n, what + ": a rule needs an id");
    }
    if (const auto s = n["severity"]) {
      const std::string v = scalar(s);
      if (v == "info") m.severity = Severity::kInfo;
      else if (v == "warning") m.severity = Severity::kWarning;
      else if (v == "error") m.severity = Severity::kError;
      else if (v == "critical") m.severity = Severity::kCritical;
      else error(s, what + ": severity must be info, warning, error or critical");
    }
    if (const auto a = n["action"]) {
      const std::string v = scalar(a);
      if (v == "alert") m.action = Action::kAlert;
      else if (v == "block") m.action = Action::kBlock;
      else if (v == "kill") m.action = Action::kKill;
      else error(a, what + ": action must be alert, block or kill");
    }
    if (const auto d = n["description"]) m.description = scalar(d);
    return m;
  }

  std::vector<std::string> role_list(const YAML::Node& n, const std::string& what) {
    std::vector<std::string> roles = strings(n, what + ": roles");
    for (const auto& r : roles) pending_roles_.push_back({r, mark_of(n, r), what});
    return roles;
  }

  // Where the item `value` of the list last read by strings() is, else the list itself.
  YAML::Mark mark_of(const YAML::Node& list, const std::string& value) const {
    auto it = marks_.find(value);
    return it != marks_.end() ? it->second : list.Mark();
  }

  void check_globs(const YAML::Node& n, const std::vector<std::string>& globs, const std::string& what) {
    for (const auto& g : globs) {
      // `~` is the watched process's home; check the rest as a path glob
      std::string p = g.rfind("~/", 0) == 0 ? "/home/user" + g.substr(1) : g == "~" ? "/home/user" : g;
      PathGlobSet probe;
      std::string err = probe.add(p, 0);
      if (!err.empty()) error(mark_of(n, g), what + ": bad glob '" + g + "': " + err);
    }
  }

  // ---- targets ------------------------------------------------------------------------------

  // 8-4-4-4-12 hex digits (the API's form), or 32 hex digits (a static pod's config hash).
  static bool pod_uid_like(const std::string& u) {
    auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    if (u.size() == 32) return std::all_of(u.begin(), u.end(), hex);
    if (u.size() != 36) return false;
    for (size_t i = 0; i < u.size(); ++i) {
      const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      if (dash ? u[i] != '-' : !hex(u[i])) return false;
    }
    return true;
  }

  void read_target(const YAML::Node& n) {
    if (!check_keys(n, "targets", {"name", "match"})) return;
    process::Target t;
    if (const auto nm = n["name"]) t.name = scalar(nm);
    if (const auto m = n["match"]) read_match(m, t);
    if (t.name.empty()) return error(n, "targets: a target needs a name");
    if (!target_names_.insert(t.name).second) error(n, "targets: duplicate target name '" + t.name + "'");
    if (t.comms.empty() && t.argv_contains.empty() && t.cgroups.empty() && t.pods.empty())
      return error(n, "target '" + t.name + "' matches nothing: give at least one comm, argv_contains, cgroup, "
                      "pod_uid, container_id or pod");
    out_.rules.targets.push_back(std::move(t));
  }

  // pod: {namespace: [globs], name: [globs], labels: {key: value}, image: [globs]}: every part
  // given must hold. Pods are known from the pod list the agent fetches (--pod-metadata-url).
  void read_pod_selector(const YAML::Node& n, process::Target& t) {
    if (!n.IsMap()) return error(n, "pod: expected a map of namespace, name, labels, image");
    if (!check_keys(n, "pod", {"namespace", "name", "labels", "image"})) return;
    process::PodSelector sel;
    if (const auto v = n["namespace"]) sel.namespaces = strings(v, "namespace");
    if (const auto v = n["name"]) sel.names = strings(v, "name");
    if (const auto v = n["image"]) sel.images = strings(v, "image");
    if (const auto v = n["labels"]) {
      if (!v.IsMap()) return error(v, "labels: expected a map of label keys to values");
      for (const auto& kv : v) sel.labels[scalar(kv.first)] = scalar(kv.second);
    }
    if (sel.namespaces.empty() && sel.names.empty() && sel.images.empty() && sel.labels.empty())
      return error(n, "pod: give at least one of namespace, name, labels, image");
    t.pods.push_back(std::move(sel));
  }

  void read_match(const YAML::Node& n, process::Target& t) {
    if (!n.IsSequence()) return error(n, "match: expected a list of conditions");
    for (const auto& cond : n) {
      if (!cond.IsMap() || cond.size() != 1) {
        error(cond, "match: each condition is one of comm, argv_contains, cgroup, pod_uid, container_id, pod");
        continue;
      }
      const auto kv = *cond.begin();
      const std::string key = scalar(kv.first);
      if (key == "comm") {
        for (auto& c : strings(kv.second, "comm")) {
          if (c.size() > CF_COMM_LEN - 1)
            error(kv.second, "comm '" + c + "' is longer than 15 characters; the kernel keeps only '" +
                                 c.substr(0, CF_COMM_LEN - 1) + "'");
          t.comms.push_back(std::move(c));
        }
      } else if (key == "argv_contains") {
        for (auto& a : strings(kv.second, "argv_contains")) {
          if (a.size() > CF_NEEDLE_LEN)
            error(kv.second, "argv_contains '" + a + "' is longer than " + std::to_string(CF_NEEDLE_LEN) + " bytes");
          t.argv_contains.push_back(std::move(a));
        }
      } else if (key == "cgroup") {
        for (auto& g : strings(kv.second, "cgroup")) t.cgroups.push_back(std::move(g));
      } else if (key == "pod_uid") {
        // A pod's UID is in the path of every cgroup of the pod: with dashes under the cgroupfs
        // driver (pod<uid>), with underscores under systemd's (…-pod<uid_>.slice).
        for (auto& uid : strings(kv.second, "pod_uid")) {
          if (!pod_uid_like(uid)) {
            error(kv.second, "pod_uid '" + uid + "' is not a pod UID (8-4-4-4-12 hex digits, or 32 for a static pod)");
            continue;
          }
          for (auto& g : process::pod_uid_globs(uid)) t.cgroups.push_back(std::move(g));
        }
      } else if (key == "pod") {
        read_pod_selector(kv.second, t);
      } else if (key == "container_id") {
        // The runtime's container ID ends the name of the container's cgroup (cri-containerd-<id>.scope,
        // crio-<id>.scope, or <id> alone); a prefix of 12 or more digits, as `crictl ps` shows, is enough.
        for (auto& id : strings(kv.second, "container_id")) {
          const bool hex = !id.empty() && std::all_of(id.begin(), id.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
          if (!hex || id.size() < 12 || id.size() > 64) {
            error(kv.second, "container_id '" + id + "' is not a container ID (12 to 64 hex digits)");
            continue;
          }
          for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          t.cgroups.push_back("*/" + id + "*");
          t.cgroups.push_back("*-" + id + "*");
        }
      } else {
        error(kv.first, "match: unknown condition '" + key +
                            "' (expected comm, argv_contains, cgroup, pod_uid, container_id, pod)");
      }
    }
  }

  // ---- roles --------------------------------------------------------------------------------

  // A role: `root: true` and/or `started_by: [roles]` (who may have it), `exec:` patterns (what
  // it must run), `final: true` (kept at exec and by every descendant).
  void read_roles(const YAML::Node& n) {
    if (!n.IsMap()) return error(n, "roles: expected a map of role name to what gives it");
    for (const auto& kv : n) {
      Role r;
      r.name = scalar(kv.first);
      r.file = name_;
      r.line = kv.first.Mark().line + 1;
      r.column = kv.first.Mark().column + 1;
      const YAML::Node& v = kv.second;
      const std::string what = "role '" + r.name + "'";
      if (!v.IsMap()) {
        error(v, what + ": expected a map (root, started_by, exec, final)");
        continue;
      }
      for (const auto& e : v) {
        const std::string k = scalar(e.first);
        if (k == "comm" || k == "exe" || k == "argv_contains" || k == "descendant_of")
          error(e.first, what + ": '" + k + "' is gone: a role is given at exec, by who started the process "
                             "(root, started_by) and what it runs (exec: [{exe, argv}]), never by a name anyone "
                             "can take (see the README, Rules)");
      }
      if (!check_keys(v, what, {"root", "started_by", "exec", "final", "comm", "exe", "argv_contains", "descendant_of"}))
        continue;
      if (const auto root = v["root"]) r.root = boolean(root, what + ": root");
      if (const auto f = v["final"]) r.final = boolean(f, what + ": final");
      if (const auto sb = v["started_by"]) {
        r.started_by = strings(sb, what + ": started_by");
        for (const auto& s : r.started_by) pending_roles_.push_back({s, mark_of(sb, s), what + ": started_by"});
      }
      if (const auto ex = v["exec"]) {
        for_each_item(ex, what + ": exec", [&](const YAML::Node& item) {
          if (!check_keys(item, what + ": exec", {"exe", "argv"})) return;
          process::ExecPattern p;
          if (const auto e = item["exe"]) p.exe = scalar(e);
          if (const auto a = item["argv"]) {
            if (!a.IsSequence()) return error(a, what + ": exec argv: expected a list, one pattern per argument");
            for (const auto& arg : a) {
              if (!arg.IsScalar()) return error(arg, what + ": exec argv: expected a string");
              p.argv.push_back(arg.Scalar());
            }
          }
          if (auto err = process::check_exec_pattern(p); !err.empty()) return error(item, what + ": exec: " + err);
          r.exec.push_back(std::move(p));
        });
      }
      if (!r.root && r.started_by.empty())
        error(kv.first, what + " is given to nobody: say root: true (the process a target matched) or started_by");
      else if (r.root && !r.exec.empty() && r.started_by.empty())
        error(kv.first, what + ": with root: true, exec says what else may have the role, and started_by who starts "
                               "it; the root has it whatever it runs");
      if (!role_names_.insert(r.name).second) error(kv.first, "roles: duplicate role '" + r.name + "'");
      out_.rules.roles.push_back(std::move(r));
    }
  }

  // access: read, write, create, connect (one, or a list)
  uint8_t access_list(const YAML::Node& n, const std::string& what) {
    uint8_t bits = 0;
    for (const auto& a : strings(n, what + ": access")) {
      if (a == "read") bits |= kAccessRead;
      else if (a == "write") bits |= kAccessWrite;
      else if (a == "create") bits |= kAccessCreate;
      else if (a == "connect") bits |= kAccessConnect;
      else error(mark_of(n, a), what + ": access must be read, write, create or connect");
    }
    return bits;
  }

  bool boolean(const YAML::Node& n, const std::string& what) {
    const std::string v = scalar(n);
    if (v == "true") return true;
    if (v != "false") error(n, what + ": expected true or false");
    return false;
  }

  // ---- egress -------------------------------------------------------------------------------

  EgressRule read_egress_rule(const YAML::Node& n, const std::string& what, Severity default_severity) {
    EgressRule r;
    if (!check_keys(n, what, with_rule_keys({"host", "cidr", "ports", "roles"}))) return r;
    r.meta = read_meta(n, what, default_severity);
    if (const auto h = n["host"]) {
      r.hosts = strings(h, "host");
      for (const auto& host : r.hosts) {
        HostSet probe;
        std::string err = probe.add(host, 0);
        if (!err.empty()) error(mark_of(h, host), what + ": bad host '" + host + "': " + err);
      }
    }
    if (const auto c = n["cidr"]) {
      r.cidrs = strings(c, "cidr");
      for (const auto& cidr : r.cidrs) {
        if (cidr == kResolversToken) continue;
        CidrSet probe;
        std::string err = probe.add(cidr, 0);
        if (!err.empty()) error(mark_of(c, cidr), what + ": bad CIDR '" + cidr + "': " + err);
      }
    }
    if (const auto p = n["ports"]) {
      r.ports = strings(p, "ports");
      for (const auto& port : r.ports) {
        PortSet probe;
        std::string err = probe.add(port);
        if (!err.empty()) error(mark_of(p, port), what + ": bad port '" + port + "': " + err);
      }
    }
    if (const auto ro = n["roles"]) r.roles = role_list(ro, what);
    if (r.hosts.empty() && r.cidrs.empty()) error(n, what + ": give host or cidr");
    return r;
  }

  void read_egress(const YAML::Node& n) {
    if (!check_keys(n, "egress", {"default", "unapproved", "allow", "deny", "dns_min_ttl", "dns_resolvers"})) return;
    EgressPolicy& e = out_.rules.egress;
    if (const auto r = n["dns_resolvers"]) {
      e.dns_resolvers = strings(r, "dns_resolvers");
      e.dns_resolvers_set = true;
      for (const auto& a : e.dns_resolvers) {
        CidrSet probe;
        if (a.find('/') != std::string::npos || !probe.add(a, 0).empty())
          error(mark_of(r, a), "egress: dns_resolvers: '" + a + "' is not an IP address");
      }
    }
    if (const auto t = n["dns_min_ttl"]) {
      if (parse_duration(scalar(t), &e.dns_min_ttl_ns)) e.dns_min_ttl_set = true;
      else error(t, "egress: dns_min_ttl must be like 60s, 5m");
    }
    if (const auto d = n["default"]) {
      const std::string v = scalar(d);
      if (v == "deny" || v == "allow") {
        e.default_deny = v == "deny";
        e.default_set = true;
      } else {
        error(d, "egress: default must be allow or deny");
      }
    }
    e.unapproved.id = "egress-unapproved";
    e.unapproved.severity = Severity::kError;
    e.unapproved.file = name_;
    // The implicit egress-unapproved rule is not an id shared across files (each file that says
    // `default: deny` implies it), but a rule of this file may not take its id.
    if (const auto u = n["unapproved"]) {
      if (check_keys(u, "egress.unapproved", kRuleKeys)) e.unapproved = read_meta(u, "egress.unapproved", Severity::kError);
    } else if (e.default_deny) {
      implicit_ids_.insert(e.unapproved.id);
      if (ids_.count(e.unapproved.id)) error(n, "egress: duplicate rule id '" + e.unapproved.id + "'");
    }
    if (const auto a = n["allow"])
      for_each_item(a, "egress.allow", [&](const YAML::Node& r) {
        e.allow.push_back(read_egress_rule(r, "egress.allow", Severity::kInfo));
      });
    if (const auto d = n["deny"])
      for_each_item(d, "egress.deny", [&](const YAML::Node& r) {
        e.deny.push_back(read_egress_rule(r, "egress.deny", Severity::kError));
      });
  }

  // ---- files --------------------------------------------------------------------------------

  void read_files(const YAML::Node& n) {
    if (!check_keys(n, "files", {"deny", "scope"})) return;
    if (const auto d = n["deny"])
      for_each_item(d, "files.deny", [&](const YAML::Node& r) {
        FileRule f;
        if (!check_keys(r, "files.deny", with_rule_keys({"path", "roles", "secret", "access"}))) return;
        f.meta = read_meta(r, "files.deny", Severity::kError);
        if (const auto p = r["path"]) {
          f.paths = strings(p, "path");
          check_globs(p, f.paths, "files.deny");
        } else {
          error(r, "files.deny: a rule needs a path");
        }
        if (const auto ro = r["roles"]) f.roles = role_list(ro, "files.deny");
        if (const auto s = r["secret"]) f.secret = scalar(s) == "true";
        if (const auto a = r["access"]) f.access = access_list(a, "files.deny");
        out_.rules.file_deny.push_back(std::move(f));
      });
    if (const auto s = n["scope"])
      for_each_item(s, "files.scope", [&](const YAML::Node& r) {
        ScopeRule sc;
        if (!check_keys(r, "files.scope", with_rule_keys({"roles", "allow", "access"}))) return;
        sc.meta = read_meta(r, "files.scope", Severity::kWarning);
        if (const auto ro = r["roles"]) sc.roles = role_list(ro, "files.scope");
        else error(r, "files.scope: a scope names the roles it applies to");
        if (const auto a = r["allow"]) {
          sc.allow = strings(a, "allow");
          check_globs(a, sc.allow, "files.scope");
        } else {
          error(r, "files.scope: a scope needs allow globs");
        }
        if (const auto a = r["access"]) sc.access = access_list(a, "files.scope");
        out_.rules.file_scope.push_back(std::move(sc));
      });
  }

  // ---- exec, env, volume, alerts ------------------------------------------------------------

  void read_exec(const YAML::Node& n) {
    ExecRule r;
    if (!check_keys(n, "exec", with_rule_keys({"binary", "argv_contains", "roles"}))) return;
    r.meta = read_meta(n, "exec", Severity::kWarning);
    if (const auto b = n["binary"]) {
      r.binaries = strings(b, "binary");
      for (const auto& bin : r.binaries)  // before another list replaces the items' positions
        if (bin.find('/') != std::string::npos) check_globs(b, {bin}, "exec");
    }
    if (const auto a = n["argv_contains"]) r.argv_contains = strings(a, "argv_contains");
    if (const auto ro = n["roles"]) r.roles = role_list(ro, "exec");
    if (r.binaries.empty() && r.argv_contains.empty()) error(n, "exec: give binary or argv_contains");
    out_.rules.exec.push_back(std::move(r));
  }

  void read_env(const YAML::Node& n) {
    if (!check_keys(n, "env", {"secret_names", "rules"})) return;
    if (const auto s = n["secret_names"])
      for (auto& name : strings(s, "secret_names")) out_.rules.secret_names.push_back(std::move(name));
    if (const auto r = n["rules"]) for_each_item(r, "env.rules", [&](const YAML::Node& e) { read_env_rule(e); });
  }

  void read_env_rule(const YAML::Node& n) {
    EnvRule r;
    if (!check_keys(n, "env.rules", with_rule_keys({"what", "roles"}))) return;
    r.meta = read_meta(n, "env.rules", Severity::kWarning);
    if (const auto w = n["what"]) {
      r.what = scalar(w);
      if (r.what != "read" && r.what != "enumerate" && r.what != "handed" && r.what != "ptrace")
        error(w, "env.rules: what must be read, enumerate, handed or ptrace");
    } else {
      error(n, "env.rules: a rule needs what (read, enumerate, handed or ptrace)");
    }
    if (r.meta.action != Action::kAlert)
      error(n["action"], "env.rules: an environment read is reported, not blocked (action: alert)");
    if (const auto ro = n["roles"]) r.roles = role_list(ro, "env.rules");
    out_.rules.env.push_back(std::move(r));
  }

  void read_volume(const YAML::Node& n) {
    VolumeRule r;
    if (!check_keys(n, "volume", with_rule_keys({"roles", "window", "max_bytes", "except_hosts"}))) return;
    r.meta = read_meta(n, "volume", Severity::kCritical);
    if (const auto ro = n["roles"]) r.roles = role_list(ro, "volume");
    if (const auto w = n["window"]) {
      if (!parse_duration(scalar(w), &r.window_ns)) error(w, "volume: window must be like 60s, 5m, 1h");
    }
    if (const auto m = n["max_bytes"]) {
      if (!parse_size(scalar(m), &r.max_bytes)) error(m, "volume: max_bytes must be like 10MiB, 500KB, 1048576");
    } else {
      error(n, "volume: a rule needs max_bytes");
    }
    if (const auto e = n["except_hosts"]) {
      r.except_hosts = strings(e, "except_hosts");
      for (const auto& host : r.except_hosts) {
        HostSet probe;
        std::string err = probe.add(host, 0);
        if (!err.empty()) error(mark_of(e, host), "volume: bad host '" + host + "': " + err);
      }
    }
    out_.rules.volume.push_back(std::move(r));
  }

  void read_dns_tunnel(const YAML::Node& n) {
    DnsTunnelRule r;
    if (!check_keys(n, "dns_tunnel", with_rule_keys({"roles", "window", "max_names", "max_label"}))) return;
    r.meta = read_meta(n, "dns_tunnel", Severity::kCritical);
    if (const auto ro = n["roles"]) r.roles = role_list(ro, "dns_tunnel");
    if (const auto w = n["window"]) {
      if (!parse_duration(scalar(w), &r.window_ns)) error(w, "dns_tunnel: window must be like 60s, 5m, 1h");
    }
    auto count = [&](const char* key, uint32_t* out, uint32_t lo, uint32_t hi) {
      const auto v = n[key];
      if (!v) return;
      try {
        const long long x = std::stoll(scalar(v));
        if (x < lo || x > hi) throw std::out_of_range(key);
        *out = static_cast<uint32_t>(x);
      } catch (const std::exception&) {
        error(v, std::string("dns_tunnel: ") + key + " must be a number from " + std::to_string(lo) + " to " +
                     std::to_string(hi));
      }
    };
    count("max_names", &r.max_names, 1, 100000);
    count("max_label", &r.max_label, 1, 63);
    out_.rules.dns_tunnel.push_back(std::move(r));
  }

  void read_evasion(const YAML::Node& n) {
    EvasionRule r;
    if (!check_keys(n, "evasion", with_rule_keys({"what", "roles"}))) return;
    r.meta = read_meta(n, "evasion", Severity::kError);
    if (const auto w = n["what"]) {
      r.what = scalar(w);
      if (!evasion_what_known(r.what))
        error(w, "evasion: what must be one of " + evasion_what_list());
      if (r.what == "raw_socket" && r.meta.action == Action::kKill)
        error(n["action"], "evasion: a raw socket is refused (block), not killed");
    } else {
      error(n, "evasion: a rule needs what (one of " + evasion_what_list() + ")");
    }
    if (const auto ro = n["roles"]) r.roles = role_list(ro, "evasion");
    out_.rules.evasion.push_back(std::move(r));
  }

  void read_alerts(const YAML::Node& n) {
    if (!check_keys(n, "alerts", {"fold_window", "correlation_window"})) return;
    AlertSettings& a = out_.rules.alerts;
    if (const auto f = n["fold_window"]) {
      if (parse_duration(scalar(f), &a.fold_window_ns)) a.fold_set = true;
      else error(f, "alerts: fold_window must be like 60s, 5m");
    }
    if (const auto c = n["correlation_window"]) {
      if (parse_duration(scalar(c), &a.correlation_window_ns)) a.correlation_set = true;
      else error(c, "alerts: correlation_window must be like 120s, 5m");
    }
  }

 public:
  // Roles named by rules must exist (in this file or an earlier one).
  void check_role_references(const std::set<std::string>& known) {
    for (const auto& p : pending_roles_)
      if (!known.count(p.name) && !role_names_.count(p.name))
        error(p.mark, p.what + ": unknown role '" + p.name + "'");
  }
  std::set<std::string>& ids() { return ids_; }
  std::set<std::string>& target_names() { return target_names_; }
  const std::set<std::string>& role_names() const { return role_names_; }

 private:
  struct PendingRole {
    std::string name;
    YAML::Mark mark;
    std::string what;
  };
  std::string name_;
  LoadResult& out_;
  std::set<std::string> ids_, target_names_, role_names_, implicit_ids_;
  std::vector<PendingRole> pending_roles_;
  std::map<std::string, YAML::Mark> marks_;
};

// Shared state across the files of a directory: ids, target and role names stay unique.
struct MergeState {
  std::set<std::string> ids, target_names, role_names;
};

LoadResult parse_with(const std::string& text, const std::string& name, MergeState& st) {
  LoadResult res;
  Reader reader(name, res);
  reader.ids() = st.ids;
  reader.target_names() = st.target_names;
  try {
    YAML::Node root = YAML::Load(text);
    if (root.IsNull()) {
      res.errors.push_back({name, 0, 0, "empty rule file"});
      return res;
    }
    reader.read(root);
  } catch (const YAML::Exception& e) {
    reader.error(e.mark, e.msg);
  }
  reader.check_role_references(st.role_names);
  std::stable_sort(res.errors.begin(), res.errors.end(), [](const RuleError& a, const RuleError& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  st.ids = reader.ids();
  st.target_names = reader.target_names();
  st.role_names.insert(reader.role_names().begin(), reader.role_names().end());
  res.rules.files.push_back(name);
  return res;
}

template <typename T>
void append(std::vector<T>& to, std::vector<T>& from) {
  for (auto& x : from) to.push_back(std::move(x));
}

}  // namespace

// What is wrong with the roles of a whole rule set (the order across files counts).
void check_role_set(LoadResult& res) {
  for (const auto& [i, msg] : process::check_roles(res.rules.roles)) {
    const Role& r = res.rules.roles[i];
    res.errors.push_back({r.file, r.line, r.column, msg});
  }
}

LoadResult parse_rules(const std::string& text, const std::string& name) {
  MergeState st;
  LoadResult res = parse_with(text, name, st);
  check_role_set(res);
  expand_resolvers(res.rules);
  std::stable_sort(res.errors.begin(), res.errors.end(), [](const RuleError& a, const RuleError& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  return res;
}

LoadResult load_rules(const std::string& path) {
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::directory_iterator(path, ec)) {
      const auto ext = e.path().extension();
      if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      LoadResult r;
      r.errors.push_back({path, 0, 0, "no *.yaml rule files in this directory"});
      return r;
    }
  } else {
    files.push_back(path);
  }

  LoadResult merged;
  MergeState st;
  for (const auto& f : files) {
    std::ifstream in(f);
    if (!in) {
      merged.errors.push_back({f, 0, 0, "cannot read the file"});
      continue;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    LoadResult one = parse_with(ss.str(), f, st);
    merged.errors.insert(merged.errors.end(), one.errors.begin(), one.errors.end());
    RuleSet& to = merged.rules;
    RuleSet& from = one.rules;
    append(to.targets, from.targets);
    append(to.roles, from.roles);
    append(to.egress.allow, from.egress.allow);
    append(to.egress.deny, from.egress.deny);
    append(to.file_deny, from.file_deny);
    append(to.file_scope, from.file_scope);
    append(to.exec, from.exec);
    append(to.secret_names, from.secret_names);
    append(to.env, from.env);
    append(to.volume, from.volume);
    append(to.evasion, from.evasion);
    append(to.dns_tunnel, from.dns_tunnel);
    if (from.fail_closed_set) {
      to.fail_closed = from.fail_closed;
      to.fail_closed_set = true;
    }
    if (from.egress.dns_resolvers_set) {
      to.egress.dns_resolvers = from.egress.dns_resolvers;
      to.egress.dns_resolvers_set = true;
    }
    if (from.egress.dns_min_ttl_set) {
      to.egress.dns_min_ttl_ns = from.egress.dns_min_ttl_ns;
      to.egress.dns_min_ttl_set = true;
    }
    if (from.mode_set) {
      to.mode = from.mode;
      to.mode_set = true;
    }
    if (from.egress.default_set) {
      to.egress.default_deny = from.egress.default_deny;
      to.egress.default_set = true;
      to.egress.unapproved = from.egress.unapproved;
    }
    if (from.alerts.fold_set) {
      to.alerts.fold_window_ns = from.alerts.fold_window_ns;
      to.alerts.fold_set = true;
    }
    if (from.alerts.correlation_set) {
      to.alerts.correlation_window_ns = from.alerts.correlation_window_ns;
      to.alerts.correlation_set = true;
    }
    to.files.push_back(f);
  }
  check_role_set(merged);
  expand_resolvers(merged.rules);
  return merged;
}

}  // namespace clawfence::policy
