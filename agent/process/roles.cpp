#include "process/roles.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace clawfence::process {

bool ArgPattern::matches(const std::string& arg) const {
  switch (kind) {
    case Kind::kAny: return true;
    case Kind::kExact: return arg == prefix;
    case Kind::kGlob:
      return arg.size() >= prefix.size() + suffix.size() && arg.compare(0, prefix.size(), prefix) == 0 &&
             arg.compare(arg.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
  return false;
}

std::string parse_arg_pattern(const std::string& text, ArgPattern* out) {
  *out = ArgPattern{};
  if (text == "*") return "";
  if (text == "**") return "'**' (any further arguments) can only be the last argument";
  const size_t star = text.find('*');
  if (star == std::string::npos) {
    out->kind = ArgPattern::Kind::kExact;
    out->prefix = text;
  } else {
    if (text.find('*', star + 1) != std::string::npos)
      return "'" + text + "': at most one '*' in an argument (it matches any characters, '/' included)";
    out->kind = ArgPattern::Kind::kGlob;
    out->prefix = text.substr(0, star);
    out->suffix = text.substr(star + 1);
  }
  if (out->prefix.size() + out->suffix.size() > CF_ROLE_TEXT)
    return "'" + text + "': longer than the kernel's " + std::to_string(CF_ROLE_TEXT) + " bytes for an argument";
  if (out->prefix.find('\0') != std::string::npos || out->suffix.find('\0') != std::string::npos)
    return "an argument cannot contain a NUL byte";
  return "";
}

std::string check_exec_pattern(const ExecPattern& p) {
  if (p.exe.find('/') != std::string::npos)
    return "exe '" + p.exe + "': the executed file's name, without a directory (the name the kernel opened: a "
           "symlink's target's)";
  if (p.exe.size() >= CF_ROLE_EXE) return "exe '" + p.exe + "': longer than " + std::to_string(CF_ROLE_EXE - 1) + " bytes";
  size_t n = p.argv.size();
  if (n && p.argv.back() == "**") --n;
  if (n > CF_ROLE_ARGS)
    return "argv: more than " + std::to_string(CF_ROLE_ARGS) + " arguments (end with \"**\" to allow more)";
  for (size_t i = 0; i < n; ++i) {
    ArgPattern a;
    if (auto err = parse_arg_pattern(p.argv[i], &a); !err.empty()) return "argv: " + err;
  }
  if (p.exe.empty() && p.argv.empty()) return "an exec pattern needs an exe or argv";
  return "";
}

std::vector<std::pair<size_t, std::string>> check_roles(const std::vector<Role>& roles) {
  std::vector<std::pair<size_t, std::string>> out;
  auto from = [&](const Role& r) {
    std::vector<std::string> f = r.started_by;
    if (r.root) f.push_back("");  // "" stands for a tree's root
    return f;
  };
  // whom a role takes whatever they run: all it may be given to without exec patterns, the root
  // alone when it has some (a root role's patterns are for the processes it is started_by)
  auto unconditional = [&](const Role& r) {
    return r.exec.empty() ? from(r) : r.root ? std::vector<std::string>{""} : std::vector<std::string>{};
  };
  size_t patterns = 0;
  for (size_t i = 0; i < roles.size(); ++i) {
    const Role& r = roles[i];
    patterns += (r.exec.empty() ? 1 : r.exec.size()) + (r.root && !r.exec.empty() ? 1 : 0);
    if (i + 1 == CF_ROLE_MAX) out.emplace_back(i, "role '" + r.name + "': the kernel holds 15 roles");
    const auto mine = from(r);
    if (mine.empty()) continue;  // given to nobody: the reader says so
    for (size_t j = 0; j < i; ++j) {
      const Role& e = roles[j];
      const auto theirs = unconditional(e);
      if (theirs.empty() || e.name == r.name) continue;
      const bool covered = std::all_of(mine.begin(), mine.end(), [&](const std::string& s) {
        return std::find(theirs.begin(), theirs.end(), s) != theirs.end();
      });
      if (covered) {
        out.emplace_back(i, "role '" + r.name + "' is never given: role '" + e.name + "' (line " + std::to_string(e.line) +
                                "), before it and with no exec pattern, takes every process it could take; list '" +
                                r.name + "' first");
        break;
      }
    }
  }
  if (patterns > CF_ROLE_RULES && !roles.empty())
    out.emplace_back(roles.size() - 1, "roles: " + std::to_string(patterns) + " exec patterns in all; the kernel holds " +
                                           std::to_string(CF_ROLE_RULES));
  return out;
}

RoleModel::RoleModel(const std::vector<Role>& roles) {
  if (roles.size() >= CF_ROLE_MAX) throw std::invalid_argument("more than 15 roles for the kernel");
  names_.push_back("");
  for (const auto& r : roles) names_.push_back(r.name);
  for (const auto& r : roles) {
    const uint8_t idx = index(r.name);
    if (r.final) final_mask_ |= static_cast<uint16_t>(1u << idx);
    // the root takes a root role whatever it runs; exec patterns of a root role are for the
    // processes it is started_by
    const bool root_alone = r.root && !r.exec.empty();
    uint16_t from = r.root && !root_alone ? 1 : 0;
    for (const auto& s : r.started_by)
      if (uint8_t i = index(s)) from |= static_cast<uint16_t>(1u << i);
    auto add = [&](const ExecPattern* p) {
      Rule rule;
      rule.from_mask = from;
      rule.role = idx;
      if (p) {
        rule.has_exec = true;
        rule.exe = p->exe;
        std::vector<std::string> argv = p->argv;
        rule.argv_judged = !argv.empty();
        if (!argv.empty() && argv.back() == "**") {
          rule.more_args = true;
          argv.pop_back();
        }
        for (const auto& text : argv) {
          ArgPattern a;
          if (auto err = parse_arg_pattern(text, &a); !err.empty()) throw std::invalid_argument("role " + r.name + ": " + err);
          rule.argv.push_back(std::move(a));
        }
        if (auto err = check_exec_pattern(*p); !err.empty()) throw std::invalid_argument("role " + r.name + ": " + err);
      }
      rules_.push_back(std::move(rule));
    };
    if (root_alone) {
      Rule rule;
      rule.from_mask = 1;
      rule.role = idx;
      rules_.push_back(std::move(rule));
    }
    if (r.exec.empty()) add(nullptr);
    for (const auto& p : r.exec) add(&p);
  }
  if (rules_.size() > CF_ROLE_RULES)
    throw std::invalid_argument("more than " + std::to_string(CF_ROLE_RULES) + " role exec patterns for the kernel");
  for (const auto& rule : rules_) {
    cf_role_rule k{};
    k.from_mask = rule.from_mask;
    k.role = rule.role;
    k.flags = CF_RR_USED;
    if (!rule.exe.empty()) {
      k.flags |= CF_RR_EXE;
      std::memcpy(k.exe, rule.exe.data(), rule.exe.size());
    }
    if (rule.argv_judged) {
      k.flags |= CF_RR_ARGV;
      if (rule.more_args) k.flags |= CF_RR_MORE_ARGS;
      k.nargs = static_cast<uint8_t>(rule.argv.size());
      for (size_t i = 0; i < rule.argv.size(); ++i) {
        const ArgPattern& a = rule.argv[i];
        cf_role_arg& ka = k.args[i];
        ka.kind = a.kind == ArgPattern::Kind::kAny ? CF_RARG_ANY : a.kind == ArgPattern::Kind::kExact ? CF_RARG_EXACT : CF_RARG_GLOB;
        ka.prefix_len = static_cast<uint8_t>(a.prefix.size());
        ka.suffix_len = static_cast<uint8_t>(a.suffix.size());
        std::memcpy(ka.text, a.prefix.data(), a.prefix.size());
        std::memcpy(ka.text + a.prefix.size(), a.suffix.data(), a.suffix.size());
      }
    }
    kernel_.push_back(k);
  }
}

uint8_t RoleModel::index(const std::string& name) const {
  if (name.empty()) return 0;
  auto it = std::find(names_.begin(), names_.end(), name);
  return it == names_.end() ? 0 : static_cast<uint8_t>(it - names_.begin());
}

std::vector<uint8_t> RoleModel::renumbering(const RoleModel& to) const {
  std::vector<uint8_t> map(names_.size());
  bool changed = false;
  for (size_t i = 1; i < map.size(); ++i) {
    map[i] = to.index(names_[i]);
    changed |= map[i] != i;
  }
  return changed ? map : std::vector<uint8_t>();
}

const std::string& RoleModel::name(uint8_t index) const {
  static const std::string none;
  return index < names_.size() ? names_[index] : none;
}

bool RoleModel::is_final(uint8_t index) const { return index && index < CF_ROLE_MAX && (final_mask_ & (1u << index)); }

uint8_t RoleModel::judge(uint8_t current, uint8_t origin, const std::string* exe,
                         const std::vector<std::string>* argv) const {
  if (is_final(current)) return current;
  const uint16_t bit = origin == CF_ORIGIN_ROOT ? 1 : origin && origin < CF_ROLE_MAX ? 1u << origin : 0;
  if (!bit) return 0;
  for (const auto& r : rules_) {
    if (!(r.from_mask & bit)) continue;
    if (r.has_exec) {
      if (!exe) continue;
      // the kernel reads at most CF_ROLE_EXE - 1 bytes of the name
      if (!r.exe.empty() && exe->substr(0, CF_ROLE_EXE - 1) != r.exe) continue;
      if (r.argv_judged) {
        // the kernel splits at most CF_ROLE_ARGS + 1 arguments: more is "more"
        const size_t argc = std::min(argv->size(), static_cast<size_t>(CF_ROLE_ARGS + 1));
        if (argc < r.argv.size() || (!r.more_args && argc != r.argv.size())) continue;
        bool ok = true;
        for (size_t i = 0; ok && i < r.argv.size(); ++i) ok = r.argv[i].matches((*argv)[i]);
        if (!ok) continue;
      }
    }
    return r.role;
  }
  return 0;
}

uint8_t RoleModel::at_exec(uint8_t current, uint8_t origin, const std::string& exe,
                           const std::vector<std::string>& argv) const {
  return judge(current, origin, &exe, &argv);
}

uint8_t RoleModel::without_exec(uint8_t current, uint8_t origin) const { return judge(current, origin, nullptr, nullptr); }

}  // namespace clawfence::process
