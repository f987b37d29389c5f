#include "policy/rules.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "clawfence/abi.h"

namespace clawfence::policy {
namespace fs = std::filesystem;

std::string RuleError::to_string() const {
  std::ostringstream out;
  out << file;
  if (line > 0) out << ":" << line << ":" << column;
  out << ": " << message;
  return out.str();
}

namespace {

// Sections of the format that later stages compile; accepted here so a full rule file loads.
const std::set<std::string> kLaterSections = {"roles", "egress", "files", "env", "exec", "volume",
                                              "alerts"};

class Reader {
 public:
  Reader(std::string name, LoadResult& out) : name_(std::move(name)), out_(out) {}

  void error(const YAML::Node& at, const std::string& msg) {
    const YAML::Mark m = at.Mark();
    out_.errors.push_back({name_, m.line + 1, m.column + 1, msg});
  }
  void error(const YAML::Mark& m, const std::string& msg) {
    out_.errors.push_back({name_, m.line + 1, m.column + 1, msg});
  }

  // A string, or a list of strings.
  std::vector<std::string> strings(const YAML::Node& n, const std::string& what) {
    std::vector<std::string> out;
    if (n.IsScalar()) {
      out.push_back(n.as<std::string>());
    } else if (n.IsSequence()) {
      for (const auto& item : n) {
        if (!item.IsScalar()) {
          error(item, what + ": expected a string");
          continue;
        }
        out.push_back(item.as<std::string>());
      }
    } else {
      error(n, what + ": expected a string or a list of strings");
    }
    for (const auto& s : out)
      if (s.empty()) error(n, what + ": empty string");
    return out;
  }

  void read_target(const YAML::Node& n, std::set<std::string>& names) {
    if (!n.IsMap()) return error(n, "targets: each target is a map with `name` and `match`");
    process::Target t;
    for (const auto& kv : n) {
      const std::string key = kv.first.as<std::string>();
      if (key == "name") {
        t.name = kv.second.as<std::string>("");
      } else if (key == "match") {
        read_match(kv.second, t);
      } else {
        error(kv.first, "targets: unknown key '" + key + "' (expected name, match)");
      }
    }
    if (t.name.empty()) return error(n, "targets: a target needs a name");
    if (!names.insert(t.name).second) error(n, "targets: duplicate target name '" + t.name + "'");
    if (t.comms.empty() && t.argv_contains.empty() && t.cgroups.empty())
      return error(n, "target '" + t.name + "' matches nothing: give at least one comm, argv_contains or cgroup");
    out_.rules.targets.push_back(std::move(t));
  }

  void read_match(const YAML::Node& n, process::Target& t) {
    if (!n.IsSequence()) return error(n, "match: expected a list of conditions");
    for (const auto& cond : n) {
      if (!cond.IsMap() || cond.size() != 1) {
        error(cond, "match: each condition is one of comm, argv_contains, cgroup");
        continue;
      }
      const auto kv = *cond.begin();
      const std::string key = kv.first.as<std::string>();
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
      } else {
        error(kv.first, "match: unknown condition '" + key + "' (expected comm, argv_contains, cgroup)");
      }
    }
  }

  void read(const YAML::Node& root) {
    if (!root.IsMap()) return error(root, "a rule file is a map (version, mode, targets, ...)");
    std::set<std::string> target_names;
    for (const auto& kv : root) {
      const std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      if (key == "version") {
        if (!v.IsScalar() || v.as<std::string>() != "1") error(v, "version: only version 1 is known");
      } else if (key == "mode") {
        std::string m = v.IsScalar() ? v.as<std::string>() : "";
        if (m == "monitor" || m == "enforce") {
          out_.rules.mode = m == "enforce" ? Mode::kEnforce : Mode::kMonitor;
          out_.rules.mode_set = true;
        } else {
          error(v, "mode: expected monitor or enforce");
        }
      } else if (key == "targets") {
        if (!v.IsSequence()) {
          error(v, "targets: expected a list");
          continue;
        }
        for (const auto& t : v) read_target(t, target_names);
      } else if (kLaterSections.count(key)) {
        continue;
      } else {
        error(kv.first, "unknown top-level key '" + key +
                            "' (expected version, mode, targets, roles, egress, files, env, exec, volume)");
      }
    }
  }

 private:
  std::string name_;
  LoadResult& out_;
};

}  // namespace

LoadResult parse_rules(const std::string& text, const std::string& name) {
  LoadResult res;
  Reader reader(name, res);
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
  res.rules.files.push_back(name);
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
  std::set<std::string> target_names;
  for (const auto& f : files) {
    std::ifstream in(f);
    if (!in) {
      merged.errors.push_back({f, 0, 0, "cannot read the file"});
      continue;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    LoadResult one = parse_rules(ss.str(), f);
    merged.errors.insert(merged.errors.end(), one.errors.begin(), one.errors.end());
    // Later files add targets (names stay unique across files); the last `mode:` said wins.
    for (auto& t : one.rules.targets) {
      if (!target_names.insert(t.name).second)
        merged.errors.push_back({f, 0, 0, "target '" + t.name + "' is already defined in an earlier file"});
      merged.rules.targets.push_back(std::move(t));
    }
    if (one.rules.mode_set) {
      merged.rules.mode = one.rules.mode;
      merged.rules.mode_set = true;
    }
    merged.rules.files.push_back(f);
  }
  return merged;
}

}  // namespace clawfence::policy
