// clawfence: the composition root. Parses the command line and calls one subcommand.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "app/audit_cmd.h"
#include "app/alert_cmd.h"
#include "app/commands.h"
#include "app/tail_cmd.h"
#include "clawfence/abi.h"

#ifndef CLAWFENCE_VERSION
#define CLAWFENCE_VERSION "0.1.0"
#endif

namespace {

void add_common(CLI::App* cmd, clawfence::app::CommonOptions& c) {
  cmd->add_option("-o,--output", c.output, "write JSON lines here instead of stdout (file is created 0600)");
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
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();

  clawfence::app::AgentOptions agent;
  agent.rules = "rules/openclaw.yaml";
  auto* agent_cmd = app.add_subcommand("agent", "run the agent: watch the targets in the rules, print events");
  agent_cmd->add_option("-r,--rules", agent.rules, "rule file or directory")->capture_default_str();
  agent_cmd->add_option("--cgroup", agent.cgroup,
                        "attach the network hooks to this cgroup v2 directory instead of the root");
  agent_cmd->add_flag("--dry-run", agent.dry_run,
                      "enforce-mode rules report what they would block or kill, and block nothing");
  agent_cmd->add_option("--pin", agent.pin,
                        "pin programs and maps so enforcement outlives the agent: auto (in enforce mode), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  agent_cmd->add_option("--pin-dir", agent.pin_dir, "where pins live (bpffs)")->capture_default_str();
  auto& outs = agent.outputs;
  agent_cmd->add_option("--metrics-addr", outs.metrics_addr,
                        "serve Prometheus /metrics and /healthz on host:port; \"\" = off")
      ->capture_default_str()
      ->group("Outputs");
  agent_cmd->add_option("--audit-dir", outs.audit_dir, "hash-chained audit log directory; \"\" = off")
      ->capture_default_str()
      ->group("Outputs");
  agent_cmd->add_flag("--audit-all", outs.audit_all, "audit every event, not only alerts, blocks, kills, gaps and "
                                                     "the agent's own notes")
      ->group("Outputs");
  agent_cmd->add_option("--audit-fsync", outs.audit_fsync,
                        "when audit records reach the disk: always, critical (blocks, kills, notes at once; the "
                        "rest within a second), interval")
      ->check(CLI::IsMember({"always", "critical", "interval"}))
      ->capture_default_str()
      ->group("Outputs");
  agent_cmd->add_option("--audit-rotate-mib", outs.audit_rotate_mib, "start a new audit file at this size; 0 = never")
      ->capture_default_str()
      ->group("Outputs");
  agent_cmd->add_option("--audit-rotate-hours", outs.audit_rotate_hours,
                        "start a new audit file at this age; 0 = never")
      ->capture_default_str()
      ->group("Outputs");
  agent_cmd->add_option("--audit-hmac-key", outs.audit_hmac_key,
                        "key file (mode 0600, >= 16 bytes): every audit record also carries an HMAC-SHA256")
      ->group("Outputs");
  agent_cmd->add_option("--tail-socket", outs.tail_socket, "serve the live event stream here; \"\" = off")
      ->capture_default_str()
      ->group("Outputs");
  agent_cmd->add_option("--tail-group", outs.tail_group, "let this group read the tail socket (mode 0660)")
      ->group("Outputs");
  agent_cmd->add_option("--tail-buffer", outs.tail_buffer, "recent events kept for `clawfence tail --since`")
      ->capture_default_str()
      ->group("Outputs");
  add_pagerduty_delivery(agent_cmd, outs.pagerduty);
  agent_cmd->add_option("--pod-metadata-url", agent.pod_metadata.url,
                        "resolve pod names, namespaces, labels and images from this pod list: the kubelet "
                        "(https://127.0.0.1:10250/pods, http://127.0.0.1:10255/pods) or the API server "
                        "(https://kubernetes.default.svc/api/v1/pods?fieldSelector=spec.nodeName=NODE); \"\" = off")
      ->group("Kubernetes");
  agent_cmd->add_option("--pod-metadata-token-file", agent.pod_metadata.token_file, "bearer token (read at every fetch)")
      ->capture_default_str()
      ->group("Kubernetes");
  agent_cmd->add_option("--pod-metadata-ca-file", agent.pod_metadata.ca_file, "CA that signs the server's certificate")
      ->capture_default_str()
      ->group("Kubernetes");
  agent_cmd->add_flag("--pod-metadata-insecure-kubelet-tls", agent.pod_metadata.insecure_kubelet_tls,
                      "do not verify the kubelet's (often self-signed) certificate")
      ->group("Kubernetes");
  agent_cmd->add_option("--pod-metadata-refresh", agent.pod_metadata_refresh_s, "seconds between pod list fetches")
      ->capture_default_str()
      ->group("Kubernetes");
  agent_cmd->add_option("--pagerduty-severity", outs.pagerduty.min_severity,
                        "page for alerts at or above: info, warning, error, critical")
      ->check(CLI::IsMember({"info", "warning", "error", "critical"}))
      ->capture_default_str()
      ->group("PagerDuty");
  agent_cmd->add_option("--pagerduty-spool", outs.pagerduty.spool_dir,
                        "alerts wait here (synced) until PagerDuty accepts them")
      ->capture_default_str()
      ->group("PagerDuty");
  agent_cmd->add_option("--pagerduty-spool-max", outs.pagerduty.spool_max,
                        "most alerts waiting; beyond it the oldest is dropped, counted and recorded")
      ->capture_default_str()
      ->group("PagerDuty");
  agent_cmd->add_option("--pagerduty-resolve-after", outs.pagerduty_resolve_s,
                        "resolve an incident once its rule has been quiet this many seconds; 0 = never")
      ->capture_default_str()
      ->group("PagerDuty");
  add_common(agent_cmd, agent.common);

  clawfence::app::RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "start a command already watched and stream its events");
  run_cmd->add_option("-r,--rules", run.rules, "also watch what these rules' targets match");
  run_cmd->add_option("--grace-ms", run.grace_ms, "after the command exits, wait this long for descendants")
      ->capture_default_str();
  run_cmd->add_option("command", run.command, "the command and its arguments (after --)")->required();
  add_common(run_cmd, run.common);

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

  app.add_subcommand("version", "print the version");

  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("clawfence");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%^%Y-%m-%dT%H:%M:%S.%e %l%$ %v");

  if (app.got_subcommand("version")) {
    std::printf("clawfence %s (ABI %d)\n", CLAWFENCE_VERSION, CF_ABI_VERSION);
    return 0;
  }
  if (app.got_subcommand(agent_cmd)) return clawfence::app::run_agent(agent);
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
