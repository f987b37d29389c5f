// Roles: who a watched process is inside the assistant's tree. The rules' `roles:` say it; the
// kernel decides it at every exec (bpf/guard/roles.bpf.h) from the form compiled here, and user
// space judges the same way for processes the kernel never saw exec (found running at start).
//
// A process's role is decided when it execs: the first role, in file order, that it may have
// (`root`: it started a watched tree; `started_by`: the process it was forked from had one of
// these roles) and whose exec pattern, if it has any, matches what it runs. A `final` role is
// kept at every later exec and by every descendant, whatever they run or rename themselves to.
// A process's name (comm) plays no part: anyone can take a name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clawfence/abi.h"

namespace clawfence::process {

// What a process runs, as the kernel sees it at exec: the executed file's name and argv.
struct ExecPattern {
  std::string exe;                // the executed file's name (a symlink's target's); "" = any
  // One pattern per argument: "*" any argument, "a*b" one that starts with a and ends with b,
  // anything else that argument exactly; a last "**" lets further arguments follow. Empty: argv
  // is not judged.
  std::vector<std::string> argv;
};

struct Role {
  std::string name;
  bool root = false;                    // a process that started a watched tree (it matched a target)
  std::vector<std::string> started_by;  // a process forked by a process of one of these roles
  std::vector<ExecPattern> exec;        // what it must run (any of them); empty: whatever it runs
  bool final = false;                   // kept at exec, and by every descendant
  std::string file;                     // where it was defined, for messages
  int line = 0, column = 0;
};

// What is wrong with a list of roles as a whole (each "file:line:column: message"-ready as
// {role index, message}): a role no process can ever get because one before it, with no exec
// pattern, takes every process it could take; more roles or patterns than the kernel holds.
std::vector<std::pair<size_t, std::string>> check_roles(const std::vector<Role>& roles);

// One argument pattern, parsed.
struct ArgPattern {
  enum class Kind { kAny, kExact, kGlob } kind = Kind::kAny;
  std::string prefix, suffix;  // kExact: prefix is the whole argument
  bool matches(const std::string& arg) const;
};

// Parses an argument pattern; returns "" or what is wrong with it ("**" is the caller's).
std::string parse_arg_pattern(const std::string& text, ArgPattern* out);
// Checks an exec pattern against the kernel's limits; returns "" or what is wrong.
std::string check_exec_pattern(const ExecPattern& p);

class RoleModel {
 public:
  RoleModel() = default;
  // Throws std::invalid_argument when the roles do not fit the kernel (15 roles, 32 patterns).
  explicit RoleModel(const std::vector<Role>& roles);

  // Role indices are 1.. in file order; 0 is no role.
  uint8_t index(const std::string& name) const;
  const std::string& name(uint8_t index) const;
  // This model's role index -> `to`'s index of the same name (0: gone), when `to` numbers the
  // roles otherwise; empty when every index stays.
  std::vector<uint8_t> renumbering(const RoleModel& to) const;
  bool is_final(uint8_t index) const;
  uint16_t final_mask() const { return final_mask_; }

  // The role of a process that execs the file named `exe` with `argv`: `current` is its role
  // before (kept when final), `origin` the role of the process it was forked from, or
  // CF_ORIGIN_ROOT when it started a watched tree.
  uint8_t at_exec(uint8_t current, uint8_t origin, const std::string& exe, const std::vector<std::string>& argv) const;
  // The role of a process that starts a tree without an exec (it renamed itself to a target's
  // name): only roles without an exec pattern can be given.
  uint8_t without_exec(uint8_t current, uint8_t origin) const;

  // The kernel's form (guard_role_rules), in judging order.
  const std::vector<cf_role_rule>& kernel_rules() const { return kernel_; }

 private:
  struct Rule {
    uint16_t from_mask = 0;
    uint8_t role = 0;
    bool has_exec = false;
    std::string exe;
    std::vector<ArgPattern> argv;
    bool argv_judged = false, more_args = false;
  };
  uint8_t judge(uint8_t current, uint8_t origin, const std::string* exe, const std::vector<std::string>* argv) const;

  std::vector<std::string> names_;  // [0] = ""
  std::vector<Rule> rules_;
  std::vector<cf_role_rule> kernel_;
  uint16_t final_mask_ = 0;
};

}  // namespace clawfence::process
