// clawfence: the composition root. Parses the command line and calls one subcommand.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "app/audit_cmd.h"
#include "app/alert_cmd.h"
#include "app/commands.h"
#include "app/config.h"
#include "app/tail_cmd.h"
#include "process/redactor.h"
#include "clawfence/abi.h"

#ifndef CLAWFENCE_VERSION
#define CLAWFENCE_VERSION "0.1.0"
#endif

namespace {

void add_common(CLI::App* cmd, clawfence::app::CommonOptions& c) {
  cmd->add_option("-o,--output", c.output,
                  "write JSON lines here instead of stdout (file is created 0600); none = no JSON lines");
  cmd->add_option("--ringbuf-mib", c.ringbuf_mib, "kernel ring buffer size in MiB (power of two)")
      ->capture_default_str();
  cmd->add_option("--max-tracked", c.max_tracked, "most processes tracked at once")->capture_default_str();
  cmd->add_option("--queue", c.queue_capacity, "records buffered between the kernel reader and the writer")
      ->capture_default_str();
  cmd->add_option("--wakeup-kib", c.wakeup_kib,
                  "wake the reader when this much is waiting in the ring buffer; 0 = for every record")
      ->capture_default_str();
  cmd->add_option("--syscall-hooks", c.syscall_hooks,
                  "how file and network syscalls are seen: auto (fentry where the kernel has it), tracepoint, fentry; "
                  "none observes no syscalls (the guards alone, for benchmarks)")
      ->check(CLI::IsMember({"auto", "tracepoint", "fentry", "none"}))
      ->capture_default_str();
  cmd->add_option("--poll-ms", c.poll_ms, "otherwise read the ring buffer this often (the most an event waits)")
      ->capture_default_str();
  cmd->add_option("--env-probes", c.env_probes, clawfence::app::kEnvProbesHelp)
      ->check(CLI::IsMember(clawfence::app::kEnvProbeScopes))
      ->capture_default_str();
}

// Where and how PagerDuty events go: shared by the agent and `alert test`.
void add_pagerduty_delivery(CLI::App* cmd, clawfence::output::PagerDutyOptions& pd) {
  cmd->add_option("--pagerduty-url", pd.url, "Events API v2 endpoint (EU: https://events.eu.pagerduty.com/v2/enqueue)")
      ->capture_default_str()
      ->group("PagerDuty");
  cmd->add_option("--pagerduty-key-file", pd.key_file,
                  "file holding the routing key (mode 0600); wins over the environment")
      ->group("PagerDuty");
  cmd->add_option("--pagerduty-key-env", pd.key_env, "environment variable holding the routing key")
      ->capture_default_str()
      ->group("PagerDuty");
  cmd->add_option("--pagerduty-proxy", pd.proxy, "proxy URL (default: libcurl's https_proxy and no_proxy environment)")
      ->group("PagerDuty");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"clawfence: watches what an AI assistant's process tree does, from inside the kernel"};
  app.require_subcommand(1);

  // The agent's options: defaults < config file < CLAWFENCE_* environment < flags (app/config.h).
  clawfence::app::AgentSettings settings;
  auto* agent_cmd = app.add_subcommand("agent", "run the agent: watch the targets in the rules, print events");
  const auto config_errors = settings.prepare(app, *agent_cmd, argc, argv);
  bool dry_run = false;  // a flag only: `mode: dry-run` is the form the file and environment take
  agent_cmd->add_flag("--dry-run", dry_run,
                      "enforce-mode rules report what they would block or kill, and block nothing");

  clawfence::app::RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "start a command already watched and stream its events");
  run_cmd->add_option("-r,--rules", run.rules, "also watch what these rules' targets match");
  run_cmd->add_option("--grace-ms", run.grace_ms, "after the command exits, wait this long for descendants")
      ->capture_default_str();
  run_cmd->add_option("--redact-pattern", run.redact_patterns,
                      "also redact what this RE2 pattern matches (its first capture group, when it has one); repeatable")
      ->check(CLI::Validator(
          [](std::string& v) { return clawfence::process::Redactor::check_pattern(v); }, "RE2 pattern"));
  run_cmd->add_option("command", run.command, "the command and its arguments (after --)")->required();
  add_common(run_cmd, run.common);
  run.common.detail = "all";  // a command run to see what it does: every event by default
  run_cmd->add_option("--detail", run.common.detail,
                      "what the JSON lines carry: all (every event), activity (processes, network, file operations "
                      "but routine reads, alerts), alerts")
      ->check(CLI::IsMember({"all", "activity", "alerts"}))
      ->capture_default_str();

  std::string rules_path;
  auto* rules_cmd = app.add_subcommand("rules", "work with rule files");
  rules_cmd->require_subcommand(1);
  auto* check_cmd = rules_cmd->add_subcommand("check", "validate a rule file or directory");
  check_cmd->add_option("path", rules_path, "rule file or directory")->required();

  std::string pin_dir = "/sys/fs/bpf/clawfence";
  auto* status_cmd = app.add_subcommand("status", "show what is attached and pinned, in which mode, since when");
  status_cmd->add_option("--pin-dir", pin_dir, "where pins live")->capture_default_str();
  auto* unload_cmd = app.add_subcommand("unload", "detach and remove everything clawfence pinned");
  unload_cmd->add_option("--pin-dir", pin_dir, "where pins live")->capture_default_str();

  std::vector<std::string> audit_files;
  std::string audit_key;
  bool audit_partial = false;
  auto* audit_cmd = app.add_subcommand("audit", "work with the audit log");
  audit_cmd->require_subcommand(1);
  auto* verify_cmd = audit_cmd->add_subcommand("verify", "check the hash chain of audit log files (any order)");
  verify_cmd->add_option("files", audit_files, "audit log files")->required();
  verify_cmd->add_option("--hmac-key", audit_key, "also check every record's HMAC with this key file");
  verify_cmd->add_flag("--partial", audit_partial, "the files may start mid-chain (older files archived)");
  clawfence::app::TailCommandOptions tail;
  bool no_reconnect = false;
  auto* tail_cmd = app.add_subcommand("tail", "follow the running agent's events live, from its socket");
  tail_cmd->add_option("--socket", tail.socket, "the agent's tail socket")->capture_default_str();
  tail_cmd->add_option("-o,--output", tail.output, "text (one line per event) or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  tail_cmd->add_option("--color", tail.color, "auto (when stdout is a terminal), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  tail_cmd->add_option("--kind", tail.kinds, "only these kinds: exec, fork, exit, comm, file, net, dns, alert, gap, guard, env, agent")
      ->delimiter(',');
  tail_cmd->add_option("--severity", tail.min_severity, "only alerts at or above: info, warning, error, critical");
  tail_cmd->add_option("--rule", tail.rule_ids, "only alerts of these rules, or events a guard judged under them")
      ->delimiter(',');
  tail_cmd->add_option("--pid", tail.pids, "only these processes and their descendants")->delimiter(',');
  tail_cmd->add_option("--process", tail.comms, "only processes of these names (comm)")->delimiter(',');
  tail_cmd->add_option("--role", tail.roles, "only events of these roles (gateway, tool, ...)")->delimiter(',');
  tail_cmd->add_option("--since", tail.since,
                       "first replay what the agent still holds from then on: 30s, 5m, 2h, 1d or an RFC 3339 time");
  tail_cmd->add_flag("--no-reconnect", no_reconnect, "exit when the agent goes away instead of waiting for it");
  tail_cmd->add_option("--count", tail.count, "stop after this many events (0: follow until interrupted)")
      ->capture_default_str();
  clawfence::output::PagerDutyOptions pagerduty;
  auto* alert_cmd = app.add_subcommand("alert", "work with alert delivery");
  alert_cmd->require_subcommand(1);
  auto* alert_test_cmd = alert_cmd->add_subcommand("test", "send one test event to PagerDuty and print its answer");
  add_pagerduty_delivery(alert_test_cmd, pagerduty);

  std::string config_path;
  auto* config_cmd = app.add_subcommand("config", "work with the configuration file");
  config_cmd->require_subcommand(1);
  auto* config_check_cmd = config_cmd->add_subcommand(
      "check", "validate a config file and print the configuration the agent would run with (flags aside)");
  config_check_cmd->add_option("file", config_path,
                               "config file (default: --config, $CLAWFENCE_CONFIG, else " +
                                   std::string(clawfence::app::kDefaultConfigPath) + ")");

  app.add_subcommand("version", "print the version");

  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("clawfence");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(settings.log_level()));
  spdlog::set_pattern("%^%Y-%m-%dT%H:%M:%S.%e %l%$ %v");

  if (app.got_subcommand("version")) {
    std::printf("clawfence %s (ABI %d)\n", CLAWFENCE_VERSION, CF_ABI_VERSION);
    return 0;
  }
  if (app.got_subcommand(agent_cmd)) {
    if (!config_errors.empty()) {
      for (const auto& e : config_errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
      std::fprintf(stderr, "clawfence agent: not started: the configuration file has errors\n");
      return 2;
    }
    if (!settings.config_path().empty()) spdlog::info("configuration: {}", settings.config_path());
    clawfence::app::AgentOptions agent = settings.agent();
    agent.dry_run = agent.dry_run || dry_run;
    return clawfence::app::run_agent(agent);
  }
  if (config_check_cmd->parsed())
    return clawfence::app::check_config(config_path.empty() ? clawfence::app::find_config_file(argc, argv)
                                                            : clawfence::app::ConfigFile{config_path, true});
  if (app.got_subcommand(run_cmd)) return clawfence::app::run_command(run);
  if (check_cmd->parsed()) return clawfence::app::check_rules(rules_path);
  if (app.got_subcommand(tail_cmd)) {
    tail.reconnect = !no_reconnect;
    return clawfence::app::run_tail(tail);
  }
  if (app.got_subcommand(status_cmd)) return clawfence::app::show_status(pin_dir);
  if (app.got_subcommand(unload_cmd)) return clawfence::app::unload(pin_dir);
  if (verify_cmd->parsed()) return clawfence::app::audit_verify(audit_files, audit_key, audit_partial);
  if (alert_test_cmd->parsed()) return clawfence::app::alert_test(pagerduty);
  return 0;
}
