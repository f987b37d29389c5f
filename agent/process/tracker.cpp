#include "process/tracker.h"

#include "process/pod_identity.h"

#include <algorithm>
#include <unordered_set>

#include "clawfence/abi.h"
#include "proto/timestamp.h"

namespace clawfence::process {

Tracker::Tracker(ProcessTable& table, const ProcFs& procfs, const sensor::BootClock& clock,
                 const std::string& cgroup2_root)
    : table_(table), procfs_(procfs), clock_(clock), cgroup_paths_(cgroup2_root, procfs) {}

std::string Tracker::target_for(const ProcInfo& p) const {
  if (auto t = match_target(targets_, p)) return *t;
  return "";
}

void Tracker::redact_from_proc(uint32_t pid, ProcInfo& p) {
  if (!redactor_) return;
  // the secrets of the process's own environment are known first: its argv may hold them
  procfs_.for_each_env(pid, [this](std::string_view name, std::string_view value) {
    redactor_->learn_value(std::string(name), value);
  });
  p.redacted |= redactor_->redact_argv(p.argv) > 0;
}

void Tracker::adopt(uint32_t pid, const std::string& target) {
  ProcInfo info;
  if (auto p = procfs_.read(pid)) info = std::move(*p);
  redact_from_proc(pid, info);
  info.pid = pid;
  info.tracked_by = sensor::track_reason_name(CF_TRACK_USER);
  info.root_pid = pid;
  info.target = target;
  info.home = procfs_.home(pid);
  table_.upsert(std::move(info));
}

void Tracker::set_roles(RoleModel roles) {
  if (auto map = roles_.renumbering(roles); !map.empty()) table_.renumber_roles(map);
  roles_ = std::move(roles);
}

void Tracker::apply(sensor::DecodedRecord& rec) {
  const sensor::RecordProcess& r = rec.proc;
  v1::Event& ev = rec.event;
  // first of all: nothing of a secret's value goes further than this
  if (redactor_) {
    redactor_->learn(rec);
    redactor_->redact_event(ev);
  }
  switch (r.op) {
    case CF_OP_EXEC: {
      ProcInfo& p = table_.on_exec(r.tgid, r.ppid, r.start_ns);
      p.comm = r.comm;
      p.role = r.role;
      p.exe = ev.exec().filename();
      p.argv.assign(ev.exec().argv().begin(), ev.exec().argv().end());
      p.redacted = ev.redacted();
      p.uid = r.uid;
      p.gid = r.gid;
      p.cgroup_id = r.cgroup_id;
      p.cgroup = cgroup_paths_.path(r.cgroup_id, r.tgid);
      p.root_pid = r.root_tgid;
      if (r.track_reason == CF_TRACK_INHERITED || r.track_reason == CF_TRACK_USER) {
        if (p.tracked_by.empty()) p.tracked_by = sensor::track_reason_name(r.track_reason);
        if (p.target.empty() || p.home.empty()) {
          if (const ProcInfo* root = table_.find(r.root_tgid)) {
            if (p.target.empty()) p.target = root->target;
            if (p.home.empty()) p.home = root->home;
          }
        }
      } else {
        p.tracked_by = sensor::track_reason_name(r.track_reason);
        // the root of a tree: a later exec of it (env, then node) may match no target itself,
        // and the kernel goes on tracking it as the same tree
        if (std::string t = target_for(p); !t.empty() || p.target.empty()) p.target = std::move(t);
        p.home = procfs_.home(r.tgid);
      }
      break;
    }
    case CF_OP_FORK:
      // an untracked child is not one of the tree's: the kernel will not report it
      if (!ev.fork().untracked()) table_.on_fork(r.tgid, r.child_tgid, r.child_start_ns);
      break;
    case CF_OP_COMM:
      table_.on_comm(r.tgid, ev.comm().new_comm());
      table_.on_role(r.tgid, r.role);
      if (r.track_reason == CF_TRACK_RENAME) {
        if (const ProcInfo* found = table_.get_or_load(r.tgid)) {
          ProcInfo p = *found;
          // watched from now on, with no exec record: its environment's secrets are read here
          redact_from_proc(r.tgid, p);
          p.comm = ev.comm().new_comm();
          p.tracked_by = sensor::track_reason_name(CF_TRACK_RENAME);
          p.root_pid = r.tgid;
          p.target = target_for(p);
          p.home = procfs_.home(r.tgid);
          table_.upsert(std::move(p));
        }
      }
      break;
    case CF_OP_DNS:
      dns_names_.learn(r.tgid, ev.dns(), clock_.to_unix_ns(r.ts_ns));
      break;
    case CF_OP_NET: {
      auto names = dns_names_.names_for(r.tgid, ev.net().address(), clock_.to_unix_ns(r.ts_ns));
      if (!names.name.empty()) {
        ev.mutable_net()->set_hostname(std::move(names.name));
        for (auto& c : names.cnames) ev.mutable_net()->add_cnames(std::move(c));
      }
      break;
    }
    default:
      break;
  }
  RecordFacts facts;
  facts.tid = r.tid;
  facts.comm = r.op == CF_OP_COMM ? ev.comm().new_comm() : r.comm;
  facts.thread_comm = r.op == CF_OP_COMM ? facts.comm : r.thread_comm;
  facts.cgroup_id = r.cgroup_id;
  facts.role = r.role;
  fill_process(r.tgid, facts, rec);
  rec.process_generation = table_.generation();
  if (r.op == CF_OP_EXIT) {
    table_.on_exit(r.tgid, r.ts_ns);
    table_.sweep(r.ts_ns);
    dns_names_.forget(r.tgid);
  }
}

void Tracker::fill_process(uint32_t pid, const RecordFacts& facts, sensor::DecodedRecord& rec) {
  // Reuse the previous event's process message: Clear() keeps its strings' storage.
  v1::Process* out = rec.spare_process ? rec.spare_process.release() : new v1::Process();
  out->Clear();
  rec.event.set_allocated_process(out);
  fill_fields(pid, facts, out);
}

void Tracker::describe(uint32_t pid, v1::Process* out) {
  RecordFacts facts;
  facts.tid = pid;
  fill_fields(pid, facts, out);
}

void Tracker::fill_fields(uint32_t pid, const RecordFacts& facts, v1::Process* out) {
  uint64_t cgroup_id = facts.cgroup_id;
  out->set_pid(pid);
  out->set_tid(facts.tid);
  out->set_comm(facts.comm);
  if (!facts.thread_comm.empty() && facts.thread_comm != facts.comm) out->set_thread(facts.thread_comm);
  out->set_cgroup_id(cgroup_id);
  if (facts.role >= 0) out->set_role(roles_.name(static_cast<uint8_t>(facts.role)));
  const ProcInfo* p = table_.get_or_load(pid);
  if (!p) return;
  if (facts.role < 0) out->set_role(roles_.name(p->role));
  // A record made outside the process's context (a DNS answer, received in softirq) has no
  // comm or cgroup: the process's own stand in.
  if (facts.comm.empty()) out->set_comm(p->comm);
  if (cgroup_id == 0) {
    cgroup_id = p->cgroup_id;
    out->set_cgroup_id(cgroup_id);
  }
  out->set_exe(p->exe);
  for (const auto& a : p->argv) out->add_argv(a);
  if (p->redacted) out->set_redacted(true);
  out->set_ppid(p->ppid);
  out->set_uid(p->uid);
  out->set_gid(p->gid);
  out->set_cgroup(p->cgroup_id == cgroup_id && !p->cgroup.empty() ? p->cgroup : cgroup_paths_.path(cgroup_id, pid));
  if (const v1::Pod* pod = pod_of(cgroup_id, out->cgroup())) *out->mutable_pod() = *pod;
  if (p->start_ns) v1::set_timestamp(clock_.to_unix_ns(p->start_ns), out->mutable_start_time());
  out->set_tracked_by(p->tracked_by);
  out->set_root_pid(p->root_pid);
  out->set_target(p->target);
  out->set_home(p->home);
  for (auto& a : table_.lineage(pid)) {
    auto* anc = out->add_lineage();
    anc->set_pid(a.pid);
    anc->set_comm(std::move(a.comm));
    anc->set_exe(std::move(a.exe));
    anc->set_role(roles_.name(a.role));
  }
}

const v1::Pod* Tracker::pod_of(uint64_t cgroup_id, const std::string& cgroup_path) {
  if (cgroup_path.empty()) return nullptr;  // not known yet: not cached either
  auto it = pods_.find(cgroup_id);
  if (it == pods_.end()) {
    if (pods_.size() > 4096) pods_.clear();
    PodEntry entry;
    v1::Pod parsed;
    if (pod_from_cgroup(cgroup_path, &parsed)) entry.pod = std::move(parsed);
    it = pods_.emplace(cgroup_id, std::move(entry)).first;
  }
  PodEntry& e = it->second;
  if (e.pod && pod_metadata_ && e.generation != pod_metadata_->generation()) {
    // what the path says stays; names, labels and image come from the current pod list
    e.generation = pod_metadata_->generation();
    v1::Pod fresh;
    pod_from_cgroup(cgroup_path, &fresh);
    pod_metadata_->resolve(&fresh);
    *e.pod = std::move(fresh);
  }
  return e.pod ? &*e.pod : nullptr;
}

bool Tracker::in_scope(const std::string& cgroup) const {
  if (scope_.empty() || scope_ == "/") return true;
  return cgroup.compare(0, scope_.size(), scope_) == 0 && (cgroup.size() == scope_.size() || cgroup[scope_.size()] == '/');
}

Tracker::SeedResult Tracker::seed(sensor::Sensor& sensor) {
  SeedResult res;
  // Two passes: a child forked by a matched process between our read of /proc and our map
  // insert is caught by the second pass (later forks are caught by the kernel).
  std::unordered_set<uint32_t> tracked;
  for (int pass = 0; pass < 2; ++pass) {
    std::unordered_map<uint32_t, ProcInfo> all;
    std::unordered_map<uint32_t, std::vector<uint32_t>> children;
    for (uint32_t pid : procfs_.pids()) {
      if (auto p = procfs_.read(pid)) {
        children[p->ppid].push_back(pid);
        all.emplace(pid, std::move(*p));
      }
    }
    // Ascending pids: a parent is usually seen before a matching child, which then joins the
    // parent's tree instead of starting its own.
    std::vector<uint32_t> order;
    for (const auto& kv : all) order.push_back(kv.first);
    std::sort(order.begin(), order.end());
    for (uint32_t pid : order) {
      if (tracked.count(pid)) continue;
      auto target = match_target(targets_, all[pid]);
      if (!target || !in_scope(all[pid].cgroup)) continue;
      ++res.roots;
      std::string root_home;
      // each process with the role of the one it was forked from (its origin) and its tool run
      struct Pending {
        uint32_t pid;
        uint8_t origin;
        uint32_t group;
      };
      std::vector<Pending> stack{{pid, CF_ORIGIN_ROOT, pid}};
      while (!stack.empty()) {
        const Pending pend = stack.back();
        const uint32_t cur = pend.pid;
        stack.pop_back();
        if (tracked.count(cur)) continue;
        auto it = all.find(cur);
        if (it == all.end()) continue;
        uint32_t reason = cur == pid ? CF_TRACK_USER : CF_TRACK_INHERITED;
        // what it runs now is what it last exec'd: judged as the kernel would have at that exec
        // (a final role is inherited whatever it runs)
        const ProcInfo& info = it->second;
        const std::string exe_name = info.exe.substr(info.exe.rfind('/') + 1);
        const uint8_t inherited = roles_.is_final(pend.origin) ? pend.origin : 0;
        sensor::TrackedRole role;
        role.origin = pend.origin;
        role.role = roles_.at_exec(inherited, pend.origin, exe_name, info.argv);
        role.group = roles_.is_final(pend.origin) ? pend.group : cur;
        if (!sensor.track(cur, pid, reason, role)) {
          ++res.failed;
          continue;
        }
        tracked.insert(cur);
        res.pids.push_back(cur);
        ProcInfo p = it->second;
        // the role was judged on the argv as it is; what is kept (and written) is redacted
        redact_from_proc(cur, p);
        p.tracked_by = "seed";
        p.root_pid = pid;
        p.target = *target;
        p.role = role.role;
        if (cur == pid) root_home = procfs_.home(pid);
        p.home = root_home;
        table_.upsert(std::move(p));
        for (uint32_t c : children[cur]) stack.push_back({c, role.role, role.group});
      }
    }
  }
  res.tracked = tracked.size();
  return res;
}

}  // namespace clawfence::process
