#include "process/pod_metadata.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "common/http.h"
#include "common/thread_name.h"

namespace clawfence::process {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxBody = 64u << 20;      // a node's pod list is far smaller; a bound, not a size
constexpr size_t kMaxToken = 64u << 10;
constexpr auto kLogEvery = std::chrono::minutes(1);
constexpr const char* kMirrorAnnotation = "kubernetes.io/config.mirror";

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n\v\f";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

bool glob_matches(const std::string& glob, const std::string& s) {
  return fnmatch(glob.c_str(), s.c_str(), 0) == 0;  // no FNM_PATHNAME: '*' crosses '/'
}

bool any_glob_matches(const std::vector<std::string>& globs, const std::string& s) {
  return std::any_of(globs.begin(), globs.end(), [&](const std::string& g) { return glob_matches(g, s); });
}

// Empty when `url` is one we may poll: https anywhere, http only to a loopback host, and no
// credentials in the URL itself (they would end up in log lines; the token file is for that).
std::string check_url(const std::string& url) {
  common::init_curl_once();
  if (url.empty()) return "pod metadata: no pod list URL given";
  CURLU* u = curl_url();
  char* scheme = nullptr;
  char* host = nullptr;
  char* user = nullptr;
  std::string err;
  if (!u || curl_url_set(u, CURLUPART_URL, url.c_str(), 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    err = "pod metadata: '" + url + "' is not a valid URL";
  } else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
    err = "pod metadata: the pod list URL must not carry credentials; the bearer token is read from the token file";
  } else {
    const std::string s = lower(scheme);
    if (s == "http" && !common::is_loopback_host(host)) {
      err = "pod metadata: '" + url + "': plain http is only allowed to a loopback host (the kubelet's "
            "read-only port on this node); use https";
    } else if (s != "https" && s != "http") {
      err = "pod metadata: '" + url + "': the scheme must be https (or http to a loopback host)";
    }
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(user);
  curl_url_cleanup(u);
  return err;
}

// The bearer token, or "" when the file does not exist (the read-only port needs none).
// The token's value never goes into `err`.
bool read_token(const std::string& path, std::string* token, std::string* err) {
  token->clear();
  if (path.empty()) return true;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return true;
    *err = "cannot read the token file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::string raw(kMaxToken + 1, '\0');
  size_t got = 0;
  while (got < raw.size()) {
    const ssize_t n = ::read(fd, raw.data() + got, raw.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      OPENSSL_cleanse(raw.data(), raw.size());
      *err = "cannot read the token file " + path + ": " + std::strerror(e);
      return false;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > kMaxToken) {
    OPENSSL_cleanse(raw.data(), raw.size());
    *err = "the token file " + path + " is larger than " + std::to_string(kMaxToken) + " bytes";
    return false;
  }
  // Trimmed in place: no copy of the token is left behind uncleansed.
  const char* ws = " \t\r\n\v\f";
  const std::string_view view(raw.data(), got);
  const size_t b = view.find_first_not_of(ws);
  if (b != std::string_view::npos) token->assign(view.substr(b, view.find_last_not_of(ws) - b + 1));
  OPENSSL_cleanse(raw.data(), raw.size());
  // A line break inside would end the header and start another: refuse rather than send.
  if (std::any_of(token->begin(), token->end(), [](char c) { return c == '\n' || c == '\r' || c == '\0'; })) {
    OPENSSL_cleanse(token->data(), token->size());
    token->clear();
    *err = "the token file " + path + " holds more than one line";
    return false;
  }
  return true;
}

struct Body {
  std::string data;
  bool too_big = false;
};

size_t on_body(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* body = static_cast<Body*>(user);
  const size_t n = size * nmemb;
  if (body->data.size() + n > kMaxBody) {
    body->too_big = true;
    return 0;  // aborts the transfer
  }
  body->data.append(ptr, n);
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(user)->load() ? 1 : 0;  // non-zero aborts
}

// GETs the pod list. `cancel` aborts a transfer in flight (shutdown).
bool http_get(const PodSourceOptions& opts, const std::atomic<bool>& cancel, std::string* out, std::string* err) {
  std::string token;
  if (!read_token(opts.token_file, &token, err)) return false;
  CURL* h = curl_easy_init();
  if (!h) {
    OPENSSL_cleanse(token.data(), token.size());
    *err = "cannot create a curl handle";
    return false;
  }
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  if (!token.empty()) {
    std::string auth = "Authorization: Bearer " + token;
    headers = curl_slist_append(headers, auth.c_str());
    OPENSSL_cleanse(auth.data(), auth.size());
    OPENSSL_cleanse(token.data(), token.size());
  }
  Body body;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_URL, opts.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "clawfence");
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");  // whatever curl can decode; lists compress well
  const long verify = opts.insecure_kubelet_tls ? 0L : 1L;
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, verify);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
  if (!opts.ca_file.empty() && access(opts.ca_file.c_str(), R_OK) == 0) {
    curl_easy_setopt(h, CURLOPT_CAINFO, opts.ca_file.c_str());
  }
  curl_easy_setopt(h, CURLOPT_PROXY, "");   // "" switches the environment's proxy off
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // the agent's threads own the signals
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(opts.timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts.timeout.count()));
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &cancel);
  const CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(h);
  curl_slist_free_all(headers);

  if (body.too_big) {
    *err = "the answer is larger than " + std::to_string(kMaxBody >> 20) + " MiB";
    return false;
  }
  if (rc != CURLE_OK) {
    *err = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    return false;
  }
  if (status != 200) {
    // The body is not quoted: an error page is no help here and may echo the request.
    *err = "HTTP " + std::to_string(status);
    if (status == 401) *err += " (the token is missing, expired or not accepted)";
    if (status == 403) *err += " (the service account may not list pods)";
    return false;
  }
  *out = std::move(body.data);
  return true;
}

struct ContainerInfo {
  std::string name;
  std::string image;  // from the spec when the spec names the container, else from the status
};

struct PodEntry {
  std::string cgroup_uid;  // the mirror hash for a static pod's mirror, else the uid
  std::string namespace_;
  std::string name;
  std::map<std::string, std::string> labels;
  std::unordered_map<std::string, ContainerInfo> by_container_id;
  std::vector<std::string> images;  // spec and status images of every container
};

// The list in force, immutable once built, so readers share it without copying.
struct Index {
  std::vector<PodEntry> pods;
  std::unordered_map<std::string, size_t> by_uid;  // API uid and mirror hash
  std::string canonical;                           // what a change is detected on
};

std::shared_ptr<const Index> build_index(v1::KubePodList list) {
  auto index = std::make_shared<Index>();
  // The list's order and everything that is not read here (annotations other than the mirror
  // hash) are dropped from the canonical form, so only a change that matters bumps the generation.
  std::sort(list.mutable_items()->begin(), list.mutable_items()->end(),
            [](const v1::KubePod& a, const v1::KubePod& b) { return a.metadata().uid() < b.metadata().uid(); });
  for (v1::KubePod& item : *list.mutable_items()) {
    auto* annotations = item.mutable_metadata()->mutable_annotations();
    const auto mirror_it = annotations->find(kMirrorAnnotation);
    const std::string mirror = mirror_it != annotations->end() ? lower(trim(mirror_it->second)) : "";
    annotations->clear();
    if (!mirror.empty()) (*annotations)[kMirrorAnnotation] = mirror;

    const std::string uid = lower(item.metadata().uid());
    if (uid.empty()) continue;
    PodEntry e;
    e.cgroup_uid = mirror.empty() ? uid : mirror;
    e.namespace_ = item.metadata().namespace_();
    e.name = item.metadata().name();
    e.labels.insert(item.metadata().labels().begin(), item.metadata().labels().end());

    std::unordered_map<std::string, std::string> spec_image;
    std::set<std::string> images;
    for (const auto* containers : {&item.spec().containers(), &item.spec().init_containers(),
                                   &item.spec().ephemeral_containers()}) {
      for (const auto& c : *containers) {
        spec_image.emplace(c.name(), c.image());
        if (!c.image().empty()) images.insert(c.image());
      }
    }
    for (const auto* statuses : {&item.status().container_statuses(), &item.status().init_container_statuses(),
                                 &item.status().ephemeral_container_statuses()}) {
      for (const auto& s : *statuses) {
        if (!s.image().empty()) images.insert(s.image());
        const std::string id = strip_container_scheme(s.container_id());
        if (id.empty()) continue;  // not started yet
        const auto spec = spec_image.find(s.name());
        e.by_container_id[id] = {s.name(), spec != spec_image.end() && !spec->second.empty() ? spec->second : s.image()};
      }
    }
    e.images.assign(images.begin(), images.end());

    const size_t at = index->pods.size();
    index->by_uid.emplace(uid, at);
    if (!mirror.empty()) index->by_uid.emplace(mirror, at);
    index->pods.push_back(std::move(e));
  }
  {
    google::protobuf::io::StringOutputStream stream(&index->canonical);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);  // map entries in key order
    list.SerializeToCodedStream(&coded);
  }
  return index;
}

bool selector_matches(const PodSelector& sel, const PodEntry& p) {
  if (!sel.namespaces.empty() && !any_glob_matches(sel.namespaces, p.namespace_)) return false;
  if (!sel.names.empty() && !any_glob_matches(sel.names, p.name)) return false;
  for (const auto& [key, value] : sel.labels) {
    const auto it = p.labels.find(key);
    if (it == p.labels.end() || it->second != value) return false;
  }
  if (!sel.images.empty() &&
      std::none_of(p.images.begin(), p.images.end(), [&](const std::string& i) { return any_glob_matches(sel.images, i); })) {
    return false;
  }
  return true;
}

}  // namespace

bool parse_pod_list(const std::string& json, v1::KubePodList* out, std::string* err) {
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;  // a pod carries far more than is read here
  out->Clear();
  const auto status = google::protobuf::util::JsonStringToMessage(json, out, o);
  if (!status.ok()) {
    // Only the first line: the parser's message goes on to quote the body, and a pod list can
    // hold secrets (env values in a spec).
    const std::string message(status.message());
    *err = "not a pod list: " + message.substr(0, std::min<size_t>(message.find('\n'), 200));
    return false;
  }
  // Any other JSON object would parse as an empty list and wipe the pods in force.
  if (out->kind() != "PodList") {
    *err = "not a pod list: kind is '" + out->kind().substr(0, 64) + "', expected 'PodList'";
    return false;
  }
  return true;
}

std::string strip_container_scheme(const std::string& status_id) {
  const size_t at = status_id.find("://");
  return lower(at == std::string::npos ? status_id : status_id.substr(at + 3));
}

class PodMetadata::Impl {
 public:
  explicit Impl(const PodSourceOptions& opts) : opts_(opts) {}

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(wake_mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void run() {
    thread_ = std::thread([this] {
      common::name_this_thread("cf-pods");
      std::unique_lock<std::mutex> lock(wake_mu_);
      while (!wake_.wait_for(lock, opts_.refresh, [this] { return stop_.load(); })) {
        lock.unlock();
        fetch();
        lock.lock();
      }
    });
  }

  void fetch() {
    std::string body, err;
    v1::KubePodList list;
    const bool ok = http_get(opts_, stop_, &body, &err) && parse_pod_list(body, &list, &err);
    std::shared_ptr<const Index> next = ok ? build_index(std::move(list)) : nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.fetches;
      if (!ok) {
        ++stats_.failures;
      } else {
        if (!index_ || index_->canonical != next->canonical) {
          index_ = next;
          ++generation_;
        }
        stats_.pods = index_->pods.size();
      }
    }
    if (ok) {
      if (failing_) spdlog::info("pod metadata: {} answers again ({} pods)", opts_.url, next->pods.size());
      failing_ = false;
      return;
    }
    if (stop_) return;  // cancelled by shutdown, not a failure worth a line
    failing_ = true;
    const auto now = Clock::now();
    if (logged_once_ && now - last_log_ < kLogEvery) {
      ++suppressed_;
      return;
    }
    const char* kept = index() ? "the last good list is kept" : "no list yet; retrying";
    if (suppressed_ > 0) {
      spdlog::warn("pod metadata: fetching {} failed: {} ({}; {} more failures since the last message)", opts_.url,
                   err, kept, suppressed_);
    } else {
      spdlog::warn("pod metadata: fetching {} failed: {} ({})", opts_.url, err, kept);
    }
    logged_once_ = true;
    last_log_ = now;
    suppressed_ = 0;
  }

  std::shared_ptr<const Index> index() const {
    std::lock_guard<std::mutex> lock(mu_);
    return index_;
  }

  uint64_t generation() const {
    std::lock_guard<std::mutex> lock(mu_);
    return generation_;
  }

  PodMetadataStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  const PodSourceOptions opts_;

  mutable std::mutex mu_;  // guards the three below
  std::shared_ptr<const Index> index_;
  uint64_t generation_ = 0;
  PodMetadataStats stats_;

  // Touched only by the fetching thread (start(), then the refresh thread).
  bool failing_ = false;
  bool logged_once_ = false;
  Clock::time_point last_log_;
  uint64_t suppressed_ = 0;

  std::mutex wake_mu_;
  std::condition_variable wake_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::unique_ptr<PodMetadata> PodMetadata::start(const PodSourceOptions& opts, std::string* err) {
  if (std::string e = check_url(opts.url); !e.empty()) {
    *err = e;
    return nullptr;
  }
  if (opts.refresh.count() <= 0 || opts.timeout.count() <= 0) {
    *err = "pod metadata: the refresh interval and the timeout must be positive";
    return nullptr;
  }
  if (opts.insecure_kubelet_tls) {
    spdlog::warn("pod metadata: TLS certificates of {} are NOT verified (insecure kubelet TLS was asked for)", opts.url);
  }
  auto impl = std::make_unique<Impl>(opts);
  impl->fetch();  // synchronous, so the first records already resolve when the source is up
  impl->run();
  const PodMetadataStats s = impl->stats();
  spdlog::info("pod metadata from {}: {} pods, refreshed every {} ms", opts.url, s.pods, opts.refresh.count());
  return std::unique_ptr<PodMetadata>(new PodMetadata(std::move(impl)));
}

PodMetadata::PodMetadata(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PodMetadata::~PodMetadata() = default;

bool PodMetadata::resolve(v1::Pod* pod) const {
  const auto index = impl_->index();
  if (!index) return false;
  const auto it = index->by_uid.find(lower(pod->uid()));
  if (it == index->by_uid.end()) return false;
  const PodEntry& e = index->pods[it->second];
  pod->set_namespace_(e.namespace_);
  pod->set_name(e.name);
  pod->mutable_labels()->clear();
  pod->mutable_labels()->insert(e.labels.begin(), e.labels.end());
  if (!pod->container_id().empty()) {
    const auto c = e.by_container_id.find(lower(pod->container_id()));
    if (c != e.by_container_id.end()) {
      pod->set_container_name(c->second.name);
      pod->set_image(c->second.image);
    }
  }
  return true;
}

std::vector<std::string> PodMetadata::match(const PodSelector& selector) const {
  std::vector<std::string> uids;
  const auto index = impl_->index();
  if (!index) return uids;
  for (const PodEntry& p : index->pods) {
    if (selector_matches(selector, p)) uids.push_back(p.cgroup_uid);
  }
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
  return uids;
}

uint64_t PodMetadata::generation() const { return impl_->generation(); }

PodMetadataStats PodMetadata::stats() const { return impl_->stats(); }

}  // namespace clawfence::process
