// The agent's configuration: defaults < config file < environment < flags.
//
// One table names every setting four ways (config-file key, flag, CLAWFENCE_ environment
// variable, default) and holds the one check its value must pass, so the file, the environment
// and the command line cannot disagree about names or limits. The file is read first and what it
// sets becomes the default of the matching CLI11 option; CLI11 then applies the environment
// (`envname`) and the flags, a flag winning over its variable.
#pragma once

#include <string>
#include <vector>

#include "app/commands.h"

namespace CLI {
class App;
}  // namespace CLI
namespace YAML {
class Node;
}  // namespace YAML

namespace clawfence::policy {
struct RuleSet;
}

namespace clawfence::app {

inline constexpr const char* kDefaultConfigPath = "/etc/clawfence/clawfence.yaml";
inline constexpr const char* kConfigEnv = "CLAWFENCE_CONFIG";

struct ConfigError {
  std::string file;
  int line = 0;    // 1-based; 0 when the error is about the file as a whole
  int column = 0;  // 1-based
  std::string key;  // "sensor.ringbuf_mib"; "" for the file as a whole
  std::string message;
  std::string to_string() const;  // "file:line:column: key: message"
};

// Which config file applies: --config in the arguments, else $CLAWFENCE_CONFIG, else the
// default path. A file named by either must exist; the default path is read only if it does.
struct ConfigFile {
  std::string path;
  bool named = false;
};
ConfigFile find_config_file(int argc, const char* const* argv);

// Everything `clawfence agent` runs with, and where each value came from.
class AgentSettings {
 public:
  enum class Source { kDefault, kFile, kEnv, kFlag };

  AgentSettings();
  ~AgentSettings();
  AgentSettings(const AgentSettings&) = delete;  // the table points into this object
  AgentSettings& operator=(const AgentSettings&) = delete;

  // Reads a config file (skipped when it is the default path and absent). Each valid value
  // replaces its default; every problem is returned, the valid values are still taken.
  std::vector<ConfigError> load(const ConfigFile& file);
  // The same for YAML text; `name` is the file name used in errors.
  std::vector<ConfigError> load_text(const std::string& text, const std::string& name);

  // Adds --config and --log-level to `app` and the agent's options to `agent_cmd`, each reading
  // its environment variable. Call after load(): file values show as the defaults in --help.
  void add_options(CLI::App& app, CLI::App& agent_cmd);

  // What main does before parsing: find and load the config file, then add the options.
  // Returns the file's errors (the agent refuses to start with any; --help still works).
  std::vector<ConfigError> prepare(CLI::App& app, CLI::App& agent_cmd, int argc, const char* const* argv);

  const AgentOptions& agent() const { return agent_; }
  const std::string& log_level() const { return log_level_; }
  const std::string& config_path() const { return loaded_path_; }  // "" when no file was read
  // Every CLAWFENCE_ variable that is set, checked like the file's values (for `config check`:
  // the agent lets CLI11 check them, and a flag wins over a bad variable).
  std::vector<ConfigError> check_environment() const;
  // Where a setting's value came from (after parsing). `key` is the config-file key.
  Source source(const std::string& key) const;
  // Every setting as `key = value (source)`, one a line; env sources name the variable.
  std::string describe() const;

 private:
  struct Setting;
  Setting* find(const std::string& key);
  const Setting* find(const std::string& key) const;
  bool given_as_flag(const Setting& s) const;  // one of its flags is in the arguments
  void read_map(const YAML::Node& map, const std::string& prefix, const std::string& name,
                std::vector<ConfigError>& errors);
  void read_value(Setting& s, const YAML::Node& key, const YAML::Node& value, const std::string& name,
                  std::vector<ConfigError>& errors);

  AgentOptions agent_;
  std::string log_level_ = "info";
  std::string config_flag_;  // --config's value: read before parsing (find_config_file)
  std::string loaded_path_;
  std::vector<std::string> args_;  // the command line, to tell a flag from its variable
  std::vector<Setting> settings_;
};

const char* to_string(AgentSettings::Source s);

// `clawfence config check [FILE]`: validates the file (no FILE: the one the agent would read),
// prints every error and returns 1, or prints "FILE: ok" and the effective configuration
// (file, environment and defaults; flags do not apply) and returns 0.
int check_config(const ConfigFile& file);

// `mode` (rules, monitor, enforce, dry-run) over the mode the rule files say: monitor and
// enforce replace it, dry-run enforces (the caller also sets dry_run), rules keeps it.
void apply_mode(const std::string& mode, policy::RuleSet& rules);

}  // namespace clawfence::app
