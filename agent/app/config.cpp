#include "app/config.h"

#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <variant>

#include "output/metrics.h"
#include "output/pagerduty.h"
#include "policy/rules.h"
#include "process/redactor.h"

namespace clawfence::app {
namespace {

// A value's check: "" when the text is acceptable, else what is wrong with it. The same check
// runs on the config file's scalars and (as a CLI11 validator) on flags and variables.
struct Check {
  std::function<std::string(const std::string&)> fn;
  std::string description;  // shown by --help beside the option
};

bool parse_whole(const std::string& text, uint64_t* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end && !text.empty();
}

Check any() { return {}; }

Check not_empty() {
  return {[](const std::string& v) { return v.empty() ? std::string("must not be empty") : std::string(); }, ""};
}

Check one_of(std::vector<std::string> choices) {
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  return {[choices, list](const std::string& v) {
            return std::find(choices.begin(), choices.end(), v) != choices.end()
                       ? std::string()
                       : "'" + v + "' is not one of " + list;
          },
          "{" + list + "}"};
}

Check whole_number(uint64_t lo, uint64_t hi) {
  const std::string range = std::to_string(lo) + " to " + std::to_string(hi);
  return {[lo, hi, range](const std::string& v) {
            uint64_t n = 0;
            if (!parse_whole(v, &n)) return "expected a whole number from " + range + ", not '" + v + "'";
            if (n < lo || n > hi) return v + " is out of range (" + range + ")";
            return std::string();
          },
          range};
}

Check power_of_two(uint64_t lo, uint64_t hi) {
  const std::string range = std::to_string(lo) + " to " + std::to_string(hi);
  return {[lo, hi, range](const std::string& v) {
            uint64_t n = 0;
            if (!parse_whole(v, &n)) return "expected a whole number (a power of two from " + range + "), not '" + v + "'";
            if (n < lo || n > hi || (n & (n - 1)) != 0)
              return v + " is out of range (a power of two from " + range + ")";
            return std::string();
          },
          "power of two, " + range};
}

Check listen_address() {
  return {[](const std::string& v) {
            std::string host;
            int port = 0;
            if (v.empty() || output::parse_listen_address(v, &host, &port)) return std::string();
            return "'" + v + "' is not host:port (e.g. 127.0.0.1:9464 or [::1]:9464)";
          },
          "host:port"};
}

Check endpoint() {
  return {[](const std::string& v) { return output::check_endpoint(v); }, "URL"};
}

Check redact_pattern() {
  return {[](const std::string& v) {
            std::string err = process::Redactor::check_pattern(v);
            return err.empty() ? err : "'" + v + "' is not a usable RE2 pattern: " + err;
          },
          "RE2 pattern"};
}

Check env_name() {
  return {[](const std::string& v) {
            bool ok = !v.empty() && !std::isdigit(static_cast<unsigned char>(v[0]));
            for (char c : v) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
            return ok ? std::string() : "'" + v + "' is not an environment variable name";
          },
          "NAME"};
}

const char* kind_of(const YAML::Node& n) {
  if (n.IsMap()) return "a map";
  if (n.IsSequence()) return "a list";
  if (n.IsNull()) return "nothing";
  return "a scalar";
}

ConfigError error_at(const std::string& file, const YAML::Mark& mark, const std::string& key, const std::string& msg) {
  ConfigError e;
  e.file = file;
  if (mark.line >= 0) {  // yaml-cpp counts from 0; editors from 1
    e.line = mark.line + 1;
    e.column = mark.column + 1;
  }
  e.key = key;
  e.message = msg;
  return e;
}

std::string leaf(const std::string& key) {
  size_t dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

std::string parent(const std::string& key) {
  size_t dot = key.rfind('.');
  return dot == std::string::npos ? "" : key.substr(0, dot);
}

}  // namespace

struct AgentSettings::Setting {
  std::string key;    // in the config file; a dot separates the group
  std::string flags;  // CLI11 names
  std::string env;
  std::string group;  // --help section ("" = Options)
  std::string help;
  std::variant<std::string*, bool*, uint32_t*, size_t*, std::vector<std::string>*> value;
  Check check;
  bool global = false;  // an option of `clawfence` itself, not of `agent`
  bool from_file = false;
  bool from_cli = false;  // CLI11 took a value: a flag or the variable
};

std::string ConfigError::to_string() const {
  std::ostringstream out;
  out << file;
  if (line > 0) out << ":" << line << ":" << column;
  out << ": ";
  if (!key.empty()) out << key << ": ";
  out << message;
  return out.str();
}

const char* to_string(AgentSettings::Source s) {
  switch (s) {
    case AgentSettings::Source::kFile: return "file";
    case AgentSettings::Source::kEnv: return "env";
    case AgentSettings::Source::kFlag: return "flag";
    default: return "default";
  }
}

ConfigFile find_config_file(int argc, const char* const* argv) {
  // Before CLI11 parses: the file's values become its defaults, so it has to be read first.
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") break;
    if (a == "--config" && i + 1 < argc) return {argv[i + 1], true};
    if (a.rfind("--config=", 0) == 0) return {a.substr(9), true};
  }
  if (const char* env = std::getenv(kConfigEnv); env && *env) return {env, true};
  return {kDefaultConfigPath, false};
}

AgentSettings::AgentSettings() {
  agent_.rules = "rules/openclaw.yaml";
  auto& c = agent_.common;
  auto& o = agent_.outputs;
  auto& pd = o.pagerduty;
  const std::string outputs = "Outputs", pagerduty = "PagerDuty", kubernetes = "Kubernetes";
  // In the order of deploy/clawfence.yaml; the help texts are the flags' own.
  settings_ = {
      {"rules", "-r,--rules", "CLAWFENCE_RULES", "", "rule file or directory", &agent_.rules, not_empty()},
      {"mode", "--mode", "CLAWFENCE_MODE", "",
       "rules (what the rule files say), monitor, enforce, or dry-run (enforce-mode reports, nothing refused)",
       &agent_.mode, one_of({"rules", "monitor", "enforce", "dry-run"})},
      {"cgroup", "--cgroup", "CLAWFENCE_CGROUP", "",
       "attach the network hooks to this cgroup v2 directory instead of the root", &agent_.cgroup, any()},
      {"pin", "--pin", "CLAWFENCE_PIN", "",
       "pin programs and maps so enforcement outlives the agent: auto (in enforce mode), always, never", &agent_.pin,
       one_of({"auto", "always", "never"})},
      {"pin_dir", "--pin-dir", "CLAWFENCE_PIN_DIR", "", "where pins live (bpffs)", &agent_.pin_dir, not_empty()},
      {"events", "-o,--output", "CLAWFENCE_OUTPUT", "",
       "JSON lines of every event: \"\" or - = stdout, none = no JSON lines, else this file (created 0600)", &c.output, any()},
      {"detail", "--detail", "CLAWFENCE_DETAIL", "",
       "what the JSON lines and `clawfence tail` carry: activity (processes, network, tools' file operations, "
       "alerts), alerts (alerts, gaps, the agent's notes) or all (every event)",
       &c.detail, one_of({"activity", "alerts", "all"})},
      {"log_level", "--log-level", "CLAWFENCE_LOG_LEVEL", "", "trace, debug, info, warn, error", &log_level_,
       one_of({"trace", "debug", "info", "warn", "error"}), true},
      {"sensor.ringbuf_mib", "--ringbuf-mib", "CLAWFENCE_RINGBUF_MIB", "", "kernel ring buffer size in MiB",
       &c.ringbuf_mib, power_of_two(1, 1024)},
      {"sensor.max_tracked", "--max-tracked", "CLAWFENCE_MAX_TRACKED", "", "most processes tracked at once",
       &c.max_tracked, whole_number(1, 1u << 24)},
      {"sensor.queue", "--queue", "CLAWFENCE_QUEUE", "", "records buffered between the kernel reader and the writer",
       &c.queue_capacity, whole_number(1, 1u << 26)},
      {"sensor.wakeup_kib", "--wakeup-kib", "CLAWFENCE_WAKEUP_KIB", "",
       "wake the reader when this much is waiting in the ring buffer; 0 = for every record", &c.wakeup_kib,
       whole_number(0, 1u << 20)},
      {"sensor.poll_ms", "--poll-ms", "CLAWFENCE_POLL_MS", "",
       "otherwise read the ring buffer this often (the most an event waits)", &c.poll_ms, whole_number(1, 1000)},
      {"sensor.syscall_hooks", "--syscall-hooks", "CLAWFENCE_SYSCALL_HOOKS", "",
       "how file and network syscalls are seen: auto (fentry where the kernel has it), tracepoint, fentry; "
       "none observes no syscalls (the guards alone, for benchmarks)",
       &c.syscall_hooks, one_of({"auto", "tracepoint", "fentry", "none"})},
      {"sensor.env_probes", "--env-probes", "CLAWFENCE_ENV_PROBES", "", kEnvProbesHelp, &c.env_probes,
       one_of(kEnvProbeScopes)},
      {"audit.dir", "--audit-dir", "CLAWFENCE_AUDIT_DIR", outputs, "hash-chained audit log directory; \"\" = off",
       &o.audit_dir, any()},
      {"audit.all_events", "--audit-all", "CLAWFENCE_AUDIT_ALL", outputs,
       "audit every event, not only alerts, blocks, kills, gaps and the agent's own notes", &o.audit_all, any()},
      {"audit.fsync", "--audit-fsync", "CLAWFENCE_AUDIT_FSYNC", outputs,
       "when audit records reach the disk: always, critical (blocks, kills, notes at once; the rest within a "
       "second), interval",
       &o.audit_fsync, one_of({"always", "critical", "interval"})},
      {"audit.rotate_mib", "--audit-rotate-mib", "CLAWFENCE_AUDIT_ROTATE_MIB", outputs,
       "start a new audit file at this size; 0 = never", &o.audit_rotate_mib, whole_number(0, 1u << 20)},
      {"audit.rotate_hours", "--audit-rotate-hours", "CLAWFENCE_AUDIT_ROTATE_HOURS", outputs,
       "start a new audit file at this age; 0 = never", &o.audit_rotate_hours, whole_number(0, 8760)},
      // The variable names the key's file: CLAWFENCE_AUDIT_HMAC_KEY would read as the key itself.
      {"audit.hmac_key_file", "--audit-hmac-key,--audit-hmac-key-file", "CLAWFENCE_AUDIT_HMAC_KEY_FILE", outputs,
       "key file (mode 0600, >= 16 bytes): every audit record also carries an HMAC-SHA256", &o.audit_hmac_key,
       any()},
      {"tail.socket", "--tail-socket", "CLAWFENCE_TAIL_SOCKET", outputs,
       "serve the live event stream here; \"\" = off", &o.tail_socket, any()},
      {"tail.group", "--tail-group", "CLAWFENCE_TAIL_GROUP", outputs,
       "let this group read the tail socket (mode 0660)", &o.tail_group, any()},
      {"tail.buffer", "--tail-buffer", "CLAWFENCE_TAIL_BUFFER", outputs,
       "recent events kept for `clawfence tail --since`", &o.tail_buffer, whole_number(0, 10000000)},
      {"metrics.address", "--metrics-addr", "CLAWFENCE_METRICS_ADDR", outputs,
       "serve Prometheus /metrics and /healthz on host:port; \"\" = off", &o.metrics_addr, listen_address()},
      {"pagerduty.url", "--pagerduty-url", "CLAWFENCE_PAGERDUTY_URL", pagerduty,
       "Events API v2 endpoint (EU: https://events.eu.pagerduty.com/v2/enqueue)", &pd.url, endpoint()},
      {"pagerduty.key_file", "--pagerduty-key-file", "CLAWFENCE_PAGERDUTY_KEY_FILE", pagerduty,
       "file holding the routing key (mode 0600); wins over the environment", &pd.key_file, any()},
      // Not CLAWFENCE_PAGERDUTY_KEY: that is where the key itself is looked for by default.
      {"pagerduty.key_env", "--pagerduty-key-env", "CLAWFENCE_PAGERDUTY_KEY_ENV", pagerduty,
       "environment variable holding the routing key", &pd.key_env, env_name()},
      {"pagerduty.severity", "--pagerduty-severity", "CLAWFENCE_PAGERDUTY_SEVERITY", pagerduty,
       "page for alerts at or above: info, warning, error, critical", &pd.min_severity,
       one_of({"info", "warning", "error", "critical"})},
      {"pagerduty.spool", "--pagerduty-spool", "CLAWFENCE_PAGERDUTY_SPOOL", pagerduty,
       "alerts wait here (synced) until PagerDuty accepts them", &pd.spool_dir, not_empty()},
      {"pagerduty.spool_max", "--pagerduty-spool-max", "CLAWFENCE_PAGERDUTY_SPOOL_MAX", pagerduty,
       "most alerts waiting; beyond it the oldest is dropped, counted and recorded", &pd.spool_max,
       whole_number(1, 10000000)},
      {"pagerduty.resolve_after_s", "--pagerduty-resolve-after", "CLAWFENCE_PAGERDUTY_RESOLVE_AFTER", pagerduty,
       "resolve an incident once its rule has been quiet this many seconds; 0 = never", &o.pagerduty_resolve_s,
       whole_number(0, 30 * 86400)},
      {"pagerduty.proxy", "--pagerduty-proxy", "CLAWFENCE_PAGERDUTY_PROXY", pagerduty,
       "proxy URL (default: libcurl's https_proxy and no_proxy environment)", &pd.proxy, any()},
      {"redact.patterns", "--redact-pattern", "CLAWFENCE_REDACT_PATTERNS", "",
       "also redact what this RE2 pattern matches (its first capture group, when it has one) from everything "
       "written, beside the built-in credential shapes; repeatable (the variable: one pattern a line)",
       &agent_.redact_patterns, redact_pattern()},
      {"kubernetes.pod_metadata_url", "--pod-metadata-url", "CLAWFENCE_POD_METADATA_URL", kubernetes,
       "resolve pod names, namespaces, labels and images from this pod list: the kubelet "
       "(https://127.0.0.1:10250/pods, http://127.0.0.1:10255/pods) or the API server "
       "(https://kubernetes.default.svc/api/v1/pods?fieldSelector=spec.nodeName=NODE); \"\" = off",
       &agent_.pod_metadata.url, any()},
      {"kubernetes.token_file", "--pod-metadata-token-file", "CLAWFENCE_POD_METADATA_TOKEN_FILE", kubernetes,
       "bearer token for the pod list (read at every fetch)", &agent_.pod_metadata.token_file, any()},
      {"kubernetes.ca_file", "--pod-metadata-ca-file", "CLAWFENCE_POD_METADATA_CA_FILE", kubernetes,
       "CA that signs the pod list server's certificate", &agent_.pod_metadata.ca_file, any()},
      {"kubernetes.insecure_kubelet_tls", "--pod-metadata-insecure-kubelet-tls",
       "CLAWFENCE_POD_METADATA_INSECURE_KUBELET_TLS", kubernetes,
       "do not verify the kubelet's (often self-signed) certificate", &agent_.pod_metadata.insecure_kubelet_tls, any()},
      {"kubernetes.refresh_s", "--pod-metadata-refresh", "CLAWFENCE_POD_METADATA_REFRESH", kubernetes,
       "seconds between pod list fetches", &agent_.pod_metadata_refresh_s, whole_number(1, 3600)},
  };
}

AgentSettings::~AgentSettings() = default;

AgentSettings::Setting* AgentSettings::find(const std::string& key) {
  for (auto& s : settings_)
    if (s.key == key) return &s;
  return nullptr;
}

const AgentSettings::Setting* AgentSettings::find(const std::string& key) const {
  return const_cast<AgentSettings*>(this)->find(key);
}

std::vector<ConfigError> AgentSettings::load(const ConfigFile& file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool exists = fs::exists(file.path, ec);
  if (!exists && !file.named) return {};  // the default path is optional
  ConfigError e;
  e.file = file.path;
  if (!exists) {
    e.message = "no such file";
    return {e};
  }
  if (fs::is_directory(file.path, ec)) {
    e.message = "is a directory (expected a YAML file)";
    return {e};
  }
  std::ifstream in(file.path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) {
    e.message = std::string("cannot read: ") + std::strerror(errno);
    return {e};
  }
  loaded_path_ = file.path;
  return load_text(text.str(), file.path);
}

std::vector<ConfigError> AgentSettings::load_text(const std::string& text, const std::string& name) {
  std::vector<ConfigError> errors;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& ex) {
    errors.push_back(error_at(name, ex.mark, "", "not valid YAML: " + ex.msg));
    return errors;
  }
  if (root.IsNull()) return errors;  // an empty file: every default stands
  if (!root.IsMap()) {
    errors.push_back(error_at(name, root.Mark(), "", std::string("expected settings (key: value), not ") + kind_of(root)));
    return errors;
  }
  read_map(root, "", name, errors);
  return errors;
}

void AgentSettings::read_map(const YAML::Node& map, const std::string& prefix, const std::string& name,
                             std::vector<ConfigError>& errors) {
  std::set<std::string> seen;
  for (const auto& kv : map) {
    if (!kv.first.IsScalar()) {
      errors.push_back(error_at(name, kv.first.Mark(), prefix, "a key must be a name"));
      continue;
    }
    const std::string key = (prefix.empty() ? "" : prefix + ".") + kv.first.Scalar();
    if (!seen.insert(key).second) {
      errors.push_back(error_at(name, kv.first.Mark(), key, "given twice"));
      continue;
    }
    if (Setting* s = find(key)) {
      read_value(*s, kv.first, kv.second, name, errors);
      continue;
    }
    const bool is_group = std::any_of(settings_.begin(), settings_.end(),
                                      [&](const Setting& s) { return parent(s.key) == key; });
    if (is_group) {
      if (kv.second.IsMap())
        read_map(kv.second, key, name, errors);
      else if (!kv.second.IsNull())  // `sensor:` alone sets nothing
        errors.push_back(error_at(name, kv.second.Mark(), key,
                                  std::string("expected a map of settings, not ") + kind_of(kv.second)));
      continue;
    }
    // A key in the wrong group is the likely mistake: name where it belongs.
    std::string hint;
    for (const auto& s : settings_)
      if (leaf(s.key) == leaf(key)) hint = " (did you mean " + s.key + "?)";
    if (hint.empty()) {
      std::vector<std::string> known;  // the names one level under prefix, groups included
      const std::string under = prefix.empty() ? "" : prefix + ".";
      for (const auto& s : settings_) {
        if (s.key.rfind(under, 0) != 0) continue;
        std::string next = s.key.substr(under.size());
        next = next.substr(0, next.find('.'));
        if (std::find(known.begin(), known.end(), next) == known.end()) known.push_back(next);
      }
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      hint = " (known" + (prefix.empty() ? std::string() : " under " + prefix) + ": " + list + ")";
    }
    errors.push_back(error_at(name, kv.first.Mark(), key, "unknown key" + hint));
  }
}

void AgentSettings::read_value(Setting& s, const YAML::Node& key, const YAML::Node& value, const std::string& name,
                               std::vector<ConfigError>& errors) {
  // An empty value (`cgroup:`) has no position of its own (yaml-cpp gives the next token's):
  // point at the key.
  const YAML::Mark at = value.IsNull() ? key.Mark() : value.Mark();
  auto fail = [&](const std::string& msg) { errors.push_back(error_at(name, at, s.key, msg)); };
  if (auto* list = std::get_if<std::vector<std::string>*>(&s.value)) {
    if (value.IsNull()) {  // `patterns:` alone: none
      (*list)->clear();
      s.from_file = true;
      return;
    }
    if (!value.IsSequence()) return fail(std::string("expected a list, not ") + kind_of(value));
    std::vector<std::string> items;
    bool ok = true;
    for (size_t i = 0; i < value.size(); ++i) {
      const YAML::Node item = value[i];
      auto fail_item = [&](const std::string& msg) {
        errors.push_back(error_at(name, item.Mark(), s.key, "item " + std::to_string(i + 1) + ": " + msg));
        ok = false;
      };
      if (!item.IsScalar()) {
        fail_item(std::string("expected a string, not ") + kind_of(item));
        continue;
      }
      if (s.check.fn) {
        if (std::string err = s.check.fn(item.Scalar()); !err.empty()) {
          fail_item(err);
          continue;
        }
      }
      items.push_back(item.Scalar());
    }
    if (!ok) return;
    **list = std::move(items);
    s.from_file = true;
    return;
  }
  if (auto* b = std::get_if<bool*>(&s.value)) {
    bool v = false;
    if (!value.IsScalar() || !YAML::convert<bool>::decode(value, v))
      return fail("expected true or false, not " +
                  (value.IsScalar() ? "'" + value.Scalar() + "'" : std::string(kind_of(value))));
    **b = v;
    s.from_file = true;
    return;
  }
  const bool is_string = std::holds_alternative<std::string*>(s.value);
  std::string text;
  if (value.IsScalar()) {
    text = value.Scalar();
  } else if (!(is_string && value.IsNull())) {  // an empty string setting is ""
    return fail(std::string("expected ") + (is_string ? "a string" : "a number") + ", not " + kind_of(value));
  }
  if (s.check.fn) {
    if (std::string err = s.check.fn(text); !err.empty()) return fail(err);
  }
  uint64_t n = 0;
  if (auto* str = std::get_if<std::string*>(&s.value)) {
    **str = text;
  } else if (!parse_whole(text, &n)) {  // every number setting has a range check; this is a backstop
    return fail("expected a whole number, not '" + text + "'");
  } else if (auto* u32 = std::get_if<uint32_t*>(&s.value)) {
    if (n > UINT32_MAX) return fail(text + " is out of range");
    **u32 = static_cast<uint32_t>(n);
  } else {
    **std::get_if<size_t*>(&s.value) = static_cast<size_t>(n);
  }
  s.from_file = true;
}

void AgentSettings::add_options(CLI::App& app, CLI::App& agent_cmd) {
  app.add_option("--config", config_flag_,
                 "configuration file (YAML); default " + std::string(kDefaultConfigPath) + " when it exists")
      ->envname(kConfigEnv);
  // `clawfence agent --config F` reads as well as `clawfence --config F agent`
  agent_cmd.fallthrough();
  for (auto& s : settings_) {
    CLI::App& where = s.global ? app : agent_cmd;
    CLI::Option* opt = nullptr;
    if (auto* b = std::get_if<bool*>(&s.value)) {
      opt = where.add_flag(s.flags, **b, s.help);
    } else {
      std::visit([&](auto* v) { opt = where.add_option(s.flags, *v, s.help); }, s.value);
      opt->capture_default_str();
      // a list from its variable: one item a line (a pattern may hold spaces and commas)
      if (std::holds_alternative<std::vector<std::string>*>(s.value)) opt->delimiter('\n');
      if (s.check.fn) {
        // CLI11 names the flag; a value from the environment is easier found by its variable
        opt->check(CLI::Validator(
            [this, &s](std::string& v) {
              std::string err = s.check.fn(v);
              const char* env = std::getenv(s.env.c_str());
              if (!err.empty() && env && v == env && !given_as_flag(s)) err = "from " + s.env + ": " + err;
              return err;
            },
            s.check.description));
      }
    }
    opt->envname(s.env);
    if (!s.group.empty()) opt->group(s.group);
    // Seen for every value CLI11 takes, from a flag or from the variable; no pointer into the
    // CLI::App is kept, which may go before these settings do.
    opt->each([&s](const std::string&) { s.from_cli = true; });
  }
}

std::vector<ConfigError> AgentSettings::prepare(CLI::App& app, CLI::App& agent_cmd, int argc,
                                                const char* const* argv) {
  args_.assign(argv + (argc > 0 ? 1 : 0), argv + argc);
  std::vector<ConfigError> errors = load(find_config_file(argc, argv));
  add_options(app, agent_cmd);
  return errors;
}

bool AgentSettings::given_as_flag(const Setting& s) const {
  std::vector<std::string> names;
  std::stringstream flags(s.flags);
  for (std::string n; std::getline(flags, n, ',');) names.push_back(n);
  for (const auto& a : args_) {
    if (a == "--") break;
    for (const auto& n : names) {
      const bool is_long = n.rfind("--", 0) == 0;
      if (is_long ? a == n || a.rfind(n + "=", 0) == 0 : a.rfind(n, 0) == 0 && a.rfind("--", 0) != 0) return true;
    }
  }
  return false;
}

AgentSettings::Source AgentSettings::source(const std::string& key) const {
  const Setting* s = find(key);
  if (!s) return Source::kDefault;
  // CLI11 reads the variable only when the flag is absent
  if (s->from_cli) return given_as_flag(*s) ? Source::kFlag : Source::kEnv;
  return s->from_file ? Source::kFile : Source::kDefault;
}

std::string AgentSettings::describe() const {
  size_t width = 0;
  for (const auto& s : settings_) width = std::max(width, s.key.size());
  std::string out;
  for (const auto& s : settings_) {
    std::string value;
    std::visit(
        [&](auto* v) {
          using T = std::remove_pointer_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>)
            value = v->empty() ? "\"\"" : *v;
          else if constexpr (std::is_same_v<T, bool>)
            value = *v ? "true" : "false";
          else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            value = "[";
            for (size_t i = 0; i < v->size(); ++i) value += (i ? ", " : "") + (*v)[i];
            value += "]";
          }
          else
            value = std::to_string(*v);
        },
        s.value);
    const Source src = source(s.key);
    out += s.key + std::string(width - s.key.size(), ' ') + " = " + value + " (" + to_string(src) +
           (src == Source::kEnv ? " " + s.env : std::string()) + ")\n";
  }
  return out;
}

std::vector<ConfigError> AgentSettings::check_environment() const {
  std::vector<ConfigError> errors;
  for (const auto& s : settings_) {
    const char* v = std::getenv(s.env.c_str());
    if (!v || !s.check.fn) continue;
    std::vector<std::string> values{v};
    if (std::holds_alternative<std::vector<std::string>*>(s.value)) {  // one item a line
      values.clear();
      std::stringstream lines(v);
      for (std::string line; std::getline(lines, line);) values.push_back(line);
    }
    for (const auto& one : values) {
      if (std::string err = s.check.fn(one); !err.empty()) {
        ConfigError e;
        e.file = "environment " + s.env;
        e.key = s.key;
        e.message = err;
        errors.push_back(e);
      }
    }
  }
  return errors;
}

int check_config(const ConfigFile& file) {
  AgentSettings settings;
  std::vector<ConfigError> errors = settings.load(file);
  // The environment as the agent would read it: every variable checked (CLI11 stops at the
  // first bad one), then applied by CLI11 exactly as for the agent.
  CLI::App app;
  auto* agent_cmd = app.add_subcommand("agent");
  settings.add_options(app, *agent_cmd);
  for (auto& e : settings.check_environment()) errors.push_back(std::move(e));
  if (errors.empty()) {
    const char* args[] = {"clawfence", "agent"};
    try {
      app.parse(2, args);
    } catch (const CLI::ParseError& ex) {
      ConfigError e;
      e.file = "environment";
      e.message = ex.what();
      errors.push_back(e);
    }
  }
  for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!errors.empty()) return 1;
  if (settings.config_path().empty())
    std::printf("%s: no such file: the agent runs on the environment and defaults\n", file.path.c_str());
  else
    std::printf("%s: ok\n", file.path.c_str());
  std::printf("%s", settings.describe().c_str());
  return 0;
}

void apply_mode(const std::string& mode, policy::RuleSet& rules) {
  if (mode == "monitor")
    rules.mode = policy::Mode::kMonitor;
  else if (mode == "enforce" || mode == "dry-run")
    rules.mode = policy::Mode::kEnforce;
}

}  // namespace clawfence::app
