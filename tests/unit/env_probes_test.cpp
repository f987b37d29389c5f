// Symbol offsets for the environment uprobes (env/symbols) and where EnvProbes attaches them
// (env/probes), over synthetic ELF files and fixture /proc trees, then over this machine's libc
// and node.
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "env/link_reaper.h"
#include "env/probes.h"
#include "env/symbols.h"
#include "temp_dir.h"

extern char** environ;

namespace clawfence::env {
namespace {

using clawfence::testing::TempDir;

const std::string kEnumerate = "_ZNK4node12RealEnvStore9EnumerateEPN2v87IsolateE";

// ---- synthetic ELF files ---------------------------------------------------------------------
//
// Three PT_LOADs: headers (R), .text (R+X) at file offset 0x1000 but address base+0x5000, and
// .data (RW). A text symbol at .text+N thus has the uprobe offset 0x1000+N whatever the base,
// which is what distinguishes a file offset from an address.
constexpr uint64_t kTextOff = 0x1000, kTextAddr = 0x5000, kDataOff = 0x1100, kDataAddr = 0x8100;

struct TestSym {
  enum Where { kText, kData, kUndef };
  std::string name;
  uint64_t at = 0;  // offset within .text (or .data)
  bool dynamic = true;
  int bind = STB_GLOBAL;
  int type = STT_FUNC;
  uint16_t versym = 1;  // the .gnu.version word (dynamic symbols)
  Where where = kText;
};

TestSym sym(const std::string& name, uint64_t at) {
  TestSym s;
  s.name = name;
  s.at = at;
  return s;
}

template <typename T>
void put(std::string& buf, size_t off, const T& v) {
  if (buf.size() < off + sizeof(T)) buf.resize(off + sizeof(T));
  std::memcpy(&buf[off], &v, sizeof(T));
}

size_t align8(size_t v) { return (v + 7) & ~size_t{7}; }

std::string build_elf(const std::vector<TestSym>& syms, uint16_t type = ET_DYN, uint64_t base = 0) {
  std::string buf(kDataOff + 0x100, '\0');
  for (size_t i = 0; i < 0x100; ++i) buf[kTextOff + i] = static_cast<char>((i * 7 + 3) & 0xff);

  // string and symbol tables
  std::string dynstr(1, '\0'), strtab(1, '\0');
  std::vector<Elf64_Sym> dynsym(1), symtab(1);
  std::vector<uint16_t> versym(1, 0);
  for (const TestSym& s : syms) {
    Elf64_Sym e = {};
    std::string& strs = s.dynamic ? dynstr : strtab;
    e.st_name = static_cast<uint32_t>(strs.size());
    strs += s.name + '\0';
    e.st_info = ELF64_ST_INFO(s.bind, s.type);
    e.st_size = 8;
    switch (s.where) {
      case TestSym::kText: e.st_shndx = 1; e.st_value = base + kTextAddr + s.at; break;
      case TestSym::kData: e.st_shndx = 2; e.st_value = base + kDataAddr + s.at; break;
      // A non-PIE executable's undefined symbol valued at its PLT stub.
      case TestSym::kUndef: e.st_shndx = SHN_UNDEF; e.st_value = base + kTextAddr + s.at; break;
    }
    if (s.dynamic) {
      dynsym.push_back(e);
      versym.push_back(s.versym);
    } else {
      symtab.push_back(e);
    }
  }
  const std::string shstrtab =
      std::string("\0.text\0.data\0.dynsym\0.dynstr\0.gnu.version\0.symtab\0.strtab\0.shstrtab\0", 66);
  auto name_at = [&](const char* n) { return static_cast<uint32_t>(shstrtab.find(std::string(".") + n)); };

  std::vector<Elf64_Shdr> sh(9);
  auto add = [&](int idx, const char* name, uint32_t shtype, const void* data, size_t size, uint64_t entsize,
                 uint32_t link) {
    const size_t off = align8(buf.size());
    buf.resize(off);
    buf.append(static_cast<const char*>(data), size);
    sh[idx].sh_name = name_at(name);
    sh[idx].sh_type = shtype;
    sh[idx].sh_offset = off;
    sh[idx].sh_size = size;
    sh[idx].sh_entsize = entsize;
    sh[idx].sh_link = link;
    sh[idx].sh_addralign = 8;
    if (shtype == SHT_DYNSYM || shtype == SHT_SYMTAB) sh[idx].sh_info = 1;
  };
  sh[1] = Elf64_Shdr{name_at("text"), SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, base + kTextAddr, kTextOff, 0x100,
                     0, 0, 16, 0};
  sh[2] = Elf64_Shdr{name_at("data"), SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, base + kDataAddr, kDataOff, 0x100,
                     0, 0, 8, 0};
  add(3, "dynsym", SHT_DYNSYM, dynsym.data(), dynsym.size() * sizeof(Elf64_Sym), sizeof(Elf64_Sym), 4);
  add(4, "dynstr", SHT_STRTAB, dynstr.data(), dynstr.size(), 0, 0);
  add(5, "gnu.version", SHT_GNU_versym, versym.data(), versym.size() * 2, 2, 3);
  add(6, "symtab", SHT_SYMTAB, symtab.data(), symtab.size() * sizeof(Elf64_Sym), sizeof(Elf64_Sym), 7);
  add(7, "strtab", SHT_STRTAB, strtab.data(), strtab.size(), 0, 0);
  add(8, "shstrtab", SHT_STRTAB, shstrtab.data(), shstrtab.size(), 0, 0);
  const size_t shoff = align8(buf.size());
  buf.resize(shoff);
  for (const Elf64_Shdr& s : sh) buf.append(reinterpret_cast<const char*>(&s), sizeof(s));

  Elf64_Ehdr eh = {};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = type;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_shoff = shoff;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 3;
  eh.e_shentsize = sizeof(Elf64_Shdr);
  eh.e_shnum = 9;
  eh.e_shstrndx = 8;
  put(buf, 0, eh);
  const Elf64_Phdr ph[3] = {
      {PT_LOAD, PF_R, 0, base, base, 0x1000, 0x1000, 0x1000},
      {PT_LOAD, PF_R | PF_X, kTextOff, base + kTextAddr, base + kTextAddr, 0x100, 0x100, 0x1000},
      {PT_LOAD, PF_R | PF_W, kDataOff, base + kDataAddr, base + kDataAddr, 0x100, 0x200, 0x1000},
  };
  for (int i = 0; i < 3; ++i) put(buf, sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr), ph[i]);
  return buf;
}

ElfSymbols read_file(const std::string& path, const std::vector<std::string>& names) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << path;
  ElfSymbols out = read_elf_symbols(fd, names);
  close(fd);
  return out;
}

FileIdentity identity_of(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return FileIdentity::of(st);
}

// ---- symbols ---------------------------------------------------------------------------------

TEST(ElfSymbolsTest, OffsetsAreFileOffsetsNotAddresses) {
  TempDir dir;
  const std::vector<TestSym> syms = {sym("uv_os_getenv", 0x10), sym("getenv", 0x20), sym(kEnumerate, 0x30)};
  const std::vector<std::string> names = {"uv_os_getenv", "getenv", kEnumerate, "secure_getenv"};
  for (auto [type, base] : {std::pair<uint16_t, uint64_t>{ET_DYN, 0}, {ET_EXEC, 0x400000}}) {
    const std::string path = dir.write("f" + std::to_string(type), build_elf(syms, type, base));
    ElfSymbols s = read_file(path, names);
    ASSERT_TRUE(s.elf) << s.error;
    EXPECT_EQ(s.offset("uv_os_getenv"), std::optional<uint64_t>(kTextOff + 0x10));
    EXPECT_EQ(s.offset("getenv"), std::optional<uint64_t>(kTextOff + 0x20));
    EXPECT_EQ(s.offset(kEnumerate), std::optional<uint64_t>(kTextOff + 0x30));
    EXPECT_FALSE(s.offset("secure_getenv").has_value());  // absent
    EXPECT_EQ(s.offsets.size(), 3u);
  }
}

TEST(ElfSymbolsTest, VersionsBindingsAndWhatIsNotAFunction) {
  TempDir dir;
  std::vector<TestSym> syms;
  // .gnu.version: a hidden old version and the default one; the default wins.
  TestSym old_v = sym("realpath", 0x40);
  old_v.versym = 0x8002;
  syms.push_back(old_v);
  TestSym new_v = sym("realpath", 0x48);
  new_v.versym = 3;
  syms.push_back(new_v);
  // A weak and a global definition: the global one.
  TestSym weak = sym("getenv", 0x50);
  weak.bind = STB_WEAK;
  syms.push_back(weak);
  syms.push_back(sym("getenv", 0x58));
  // Two equal definitions at different places: left out.
  syms.push_back(sym("twice", 0x60));
  syms.push_back(sym("twice", 0x68));
  // Names carrying their version in .symtab (a static binary, or a .symver'd object).
  TestSym versioned = sym("secure_getenv@@GLIBC_2.17", 0x70);
  versioned.dynamic = false;
  syms.push_back(versioned);
  TestSym hidden_name = sym("secure_getenv@GLIBC_2.2.5", 0x78);
  hidden_name.dynamic = false;
  syms.push_back(hidden_name);
  // Not candidates: a .symtab local, an undefined symbol with a PLT value, a function symbol in
  // a data segment, an IFUNC, an object.
  TestSym local = sym("uv_os_getenv", 0x80);
  local.dynamic = false;
  local.bind = STB_LOCAL;
  syms.push_back(local);
  TestSym undef = sym("plt_only", 0x88);
  undef.where = TestSym::kUndef;
  syms.push_back(undef);
  TestSym data = sym("in_data", 0x10);
  data.where = TestSym::kData;
  syms.push_back(data);
  TestSym ifunc = sym("ifunc", 0x90);
  ifunc.type = STT_GNU_IFUNC;
  syms.push_back(ifunc);
  TestSym object = sym("object", 0x98);
  object.type = STT_OBJECT;
  syms.push_back(object);
  // .symtab is only read for names .dynsym lacks: this one loses to the dynamic definition.
  TestSym shadow = sym("realpath", 0xa0);
  shadow.dynamic = false;
  syms.push_back(shadow);

  const std::string path = dir.write("lib.so", build_elf(syms, ET_EXEC, 0x400000));
  ElfSymbols s = read_file(path, {"realpath", "getenv", "twice", "secure_getenv", "uv_os_getenv", "plt_only",
                                  "in_data", "ifunc", "object"});
  ASSERT_TRUE(s.elf) << s.error;
  EXPECT_EQ(s.offset("realpath"), std::optional<uint64_t>(kTextOff + 0x48));
  EXPECT_EQ(s.offset("getenv"), std::optional<uint64_t>(kTextOff + 0x58));
  EXPECT_EQ(s.offset("secure_getenv"), std::optional<uint64_t>(kTextOff + 0x70));
  EXPECT_EQ(s.ambiguous, std::vector<std::string>{"twice"});
  for (const char* absent : {"twice", "uv_os_getenv", "plt_only", "in_data", "ifunc", "object"})
    EXPECT_FALSE(s.offset(absent).has_value()) << absent;
  // what the file calls from a shared library: the undefined .dynsym function
  EXPECT_EQ(s.imports, std::set<std::string>{"plt_only"});
}

TEST(ElfSymbolsTest, NotElf) {
  TempDir dir;
  for (const auto& [name, content] : std::vector<std::pair<std::string, std::string>>{
           {"script.sh", "#!/bin/sh\necho hi\n"}, {"empty", ""}, {"short", "\x7f" "ELF"}}) {
    ElfSymbols s = read_file(dir.write(name, content), {"getenv"});
    EXPECT_FALSE(s.elf) << name;
    EXPECT_FALSE(s.error.empty()) << name;
    EXPECT_TRUE(s.offsets.empty()) << name;
  }
  // A relocatable object has symbols but nothing loadable.
  ElfSymbols rel = read_file(dir.write("x.o", build_elf({sym("getenv", 0)}, ET_REL)), {"getenv"});
  EXPECT_FALSE(rel.elf);
  EXPECT_NE(rel.error.find("neither"), std::string::npos) << rel.error;
}

TEST(SymbolCacheTest, ParsesEachFileOnce) {
  TempDir dir;
  const std::string a = dir.write("a/libuv.so.1", build_elf({sym("uv_os_getenv", 0x10)}));
  const std::string b = dir.write("b/libm.so.6", build_elf({sym("sin", 0x10)}));
  ASSERT_EQ(link(a.c_str(), (dir / "b/libuv-link.so").c_str()), 0);
  SymbolCache cache({"uv_os_getenv"});

  auto first = cache.lookup_path(a);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->offset("uv_os_getenv"), std::optional<uint64_t>(kTextOff + 0x10));
  EXPECT_EQ(cache.lookup_path(a), first);
  EXPECT_EQ(cache.lookup_path(dir / "b/libuv-link.so"), first);  // another path, the same file
  EXPECT_EQ(cache.parses(), 1u);

  // Absence is cached too.
  auto none = cache.lookup_path(b);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->elf);
  EXPECT_TRUE(none->offsets.empty());
  EXPECT_EQ(cache.lookup_path(b), none);
  EXPECT_EQ(cache.parses(), 2u);

  // The file rewritten in place: a new identity, parsed again.
  {
    std::ofstream out(a, std::ios::binary | std::ios::trunc);
    out << build_elf({sym("uv_os_getenv", 0x20), sym("other", 0x30)});
  }
  auto again = cache.lookup_path(a);
  EXPECT_EQ(cache.parses(), 3u);
  EXPECT_EQ(again->offset("uv_os_getenv"), std::optional<uint64_t>(kTextOff + 0x20));

  std::string err;
  EXPECT_EQ(cache.lookup_path(dir / "missing", &err), nullptr);
  EXPECT_NE(err.find("missing"), std::string::npos);
}

TEST(SymbolCacheTest, BoundedLeastRecentlyUsedFirst) {
  TempDir dir;
  std::vector<std::string> files;
  for (int i = 0; i < 3; ++i) files.push_back(dir.write("f" + std::to_string(i), build_elf({sym("getenv", 0x10)})));
  SymbolCache cache({"getenv"}, 2);
  cache.lookup_path(files[0]);
  cache.lookup_path(files[1]);
  cache.lookup_path(files[0]);  // f1 is now the least recently used
  cache.lookup_path(files[2]);  // evicts f1
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.parses(), 3u);
  cache.lookup_path(files[0]);
  EXPECT_EQ(cache.parses(), 3u);
  cache.lookup_path(files[1]);
  EXPECT_EQ(cache.parses(), 4u);
}

// ---- this machine's libc and node ------------------------------------------------------------

std::string read_at(const std::string& path, uint64_t offset, size_t n) {
  std::string out(n, '\0');
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  const ssize_t got = pread(fd, out.data(), n, static_cast<off_t>(offset));
  close(fd);
  return got == static_cast<ssize_t>(n) ? out : "";
}

// The libc functions as this process runs them: the bytes at the offset found in the file are the
// bytes at the function's address in memory. The first byte is left out of the comparison: a
// uprobe that something else attached system-wide (a kernel-tier test) rewrites it to int3.
TEST(ElfSymbolsRealTest, LibcOffsetsMatchTheCodeInMemory) {
  for (const char* name : {"getenv", "secure_getenv"}) {
    void* addr = dlsym(RTLD_DEFAULT, name);
    ASSERT_NE(addr, nullptr) << name;
    Dl_info info;
    ASSERT_NE(dladdr(addr, &info), 0) << name;
    ElfSymbols s = read_file(info.dli_fname, {name});
    ASSERT_TRUE(s.elf) << info.dli_fname << ": " << s.error;
    auto offset = s.offset(name);
    ASSERT_TRUE(offset.has_value()) << name << " in " << info.dli_fname;
    const std::string in_file = read_at(info.dli_fname, *offset, 16);
    ASSERT_EQ(in_file.size(), 16u);
    EXPECT_EQ(std::memcmp(in_file.data() + 1, static_cast<const char*>(addr) + 1, 15), 0)
        << name << " at file offset 0x" << std::hex << *offset << " of " << info.dli_fname;
  }
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  pclose(p);
  return out;
}

std::string node_path() {
  for (const char* candidate : {"/usr/bin/node", "/usr/local/bin/node"}) {
    char real[4096];
    if (realpath(candidate, real) && access(real, X_OK) == 0) return real;
  }
  return "";
}

// st_value of a defined dynamic symbol, per nm.
std::optional<uint64_t> nm_value(const std::string& path, const std::string& name) {
  std::istringstream lines(run("nm -D --defined-only '" + path + "' 2>/dev/null"));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::string value, type, sym;
    if (f >> value >> type >> sym && sym == name) return std::stoull(value, nullptr, 16);
  }
  return std::nullopt;
}

// libbpf's way (elf_sym_offset): through the section holding the address, per readelf.
std::optional<uint64_t> section_offset(const std::string& path, uint64_t value) {
  std::istringstream lines(run("readelf -SW '" + path + "' 2>/dev/null"));
  for (std::string line; std::getline(lines, line);) {
    size_t close = line.find(']');
    if (line.find('[') == std::string::npos || close == std::string::npos) continue;
    std::istringstream f(line.substr(close + 1));
    std::string name, type, addr, off, size;
    if (!(f >> name >> type >> addr >> off >> size) || type != "PROGBITS") continue;
    uint64_t a = std::stoull(addr, nullptr, 16), o = std::stoull(off, nullptr, 16), s = std::stoull(size, nullptr, 16);
    if (a != 0 && value >= a && value < a + s) return value - a + o;
  }
  return std::nullopt;
}

TEST(ElfSymbolsRealTest, NodeOffsetsMatchNmAndSections) {
  const std::string node = node_path();
  if (node.empty()) GTEST_SKIP() << "no node binary on this machine";
  if (run("command -v nm readelf").empty()) GTEST_SKIP() << "nm/readelf (binutils) not installed";
  ElfSymbols s = read_file(node, {"uv_os_getenv", kEnumerate, "getenv"});
  ASSERT_TRUE(s.elf) << s.error;
  EXPECT_FALSE(s.offset("getenv").has_value());  // imported from libc, not defined
  for (const std::string& name : {std::string("uv_os_getenv"), kEnumerate}) {
    auto value = nm_value(node, name);
    if (!value) GTEST_SKIP() << node << " does not export " << name << " (libuv or libnode linked dynamically?)";
    auto offset = s.offset(name);
    ASSERT_TRUE(offset.has_value()) << name;
    EXPECT_EQ(offset, section_offset(node, *value)) << name;
  }
}

// ---- EnvProbes over fixture /proc trees ------------------------------------------------------

// Records attachments; can be told to fail a program a number of times.
struct FakeKernel {
  struct Link {
    std::string prog;
    uint64_t offset;
    bool retprobe;
    FileIdentity file;  // what the path given pointed at during the call
    int pid = -1;       // the one process it is for, or -1: every process
  };
  std::map<uintptr_t, Link> links;
  uintptr_t next = 1;
  std::map<std::string, int> fail;  // prog → failures left
  int attaches = 0;
  int detaches = 0;

  EnvProbes::AttachFn attach_fn() {
    return [this](const std::string& prog, const std::string& path, uint64_t offset, bool retprobe, int pid,
                  std::string* err) -> void* {
      ++attaches;
      if (fail[prog] > 0) {
        --fail[prog];
        *err = "injected failure";
        return nullptr;
      }
      EXPECT_EQ(path.rfind("/proc/self/fd/", 0), 0u) << path;
      Link l{prog, offset, retprobe, identity_of(path), pid};
      links[next] = l;
      return reinterpret_cast<void*>(next++);
    };
  }
  EnvProbes::DetachFn detach_fn() {
    return [this](void* h) {
      ++detaches;
      EXPECT_EQ(links.erase(reinterpret_cast<uintptr_t>(h)), 1u);
    };
  }
  // "prog@0xOFF" of the live links on `file`, sorted.
  std::set<std::string> on(const std::string& file) const {
    const FileIdentity id = identity_of(file);
    std::set<std::string> out;
    char off[32];
    for (const auto& [h, l] : links) {
      if (l.file != id) continue;
      std::snprintf(off, sizeof(off), "@0x%" PRIx64, l.offset);
      out.insert(l.prog + off);
    }
    return out;
  }
};

std::string at(const std::string& prog, uint64_t text_off) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "@0x%" PRIx64, kTextOff + text_off);
  return prog + buf;
}

// A fixture /proc: per process maps, exe, map_files/ and root.
class FakeProc {
 public:
  explicit FakeProc(const TempDir& dir) : dir_(dir) {}
  std::string root() const { return dir_ / "proc"; }

  // `files`: executable mappings, one page each from 0x400000 (so maps pads the range and
  // map_files does not). maps_path: what maps prints (defaults to the file's path).
  struct Map {
    std::string file;
    std::string maps_path;
    bool map_files = true;
    uint64_t ino_delta = 0;  // to make maps lie
  };
  void process(uint32_t pid, const std::string& exe, const std::vector<Map>& maps) {
    const std::string d = "proc/" + std::to_string(pid);
    std::filesystem::remove_all(dir_ / d);
    dir_.mkdirs(d + "/map_files");
    std::string text;
    uint64_t start = 0x400000;
    auto line = [&](const Map& m, const char* perms) {
      struct stat st;
      EXPECT_EQ(stat(m.file.c_str(), &st), 0) << m.file;
      char buf[512];
      std::snprintf(buf, sizeof(buf), "%08" PRIx64 "-%08" PRIx64 " %s 00000000 %02x:%02x %" PRIu64 "     %s\n",
                    start, start + 0x1000, perms, major(st.st_dev), minor(st.st_dev),
                    static_cast<uint64_t>(st.st_ino) + m.ino_delta,
                    (m.maps_path.empty() ? m.file : m.maps_path).c_str());
      text += buf;
      if (m.map_files) {
        std::snprintf(buf, sizeof(buf), "%" PRIx64 "-%" PRIx64, start, start + 0x1000);
        EXPECT_EQ(symlink(m.file.c_str(), (dir_ / (d + "/map_files/" + buf)).c_str()), 0);
      }
      start += 0x1000;
    };
    for (const Map& m : maps) {
      line(m, "r--p");
      line(m, "r-xp");
      line(m, "rw-p");
    }
    text += "7ffd1000-7ffd3000 r-xp 00000000 00:00 0                          [vdso]\n";
    dir_.write(d + "/maps", text);
    if (!exe.empty()) {
      EXPECT_EQ(symlink(exe.c_str(), (dir_ / (d + "/exe")).c_str()), 0);
    }
    EXPECT_EQ(symlink((dir_ / "rootfs").c_str(), (dir_ / (d + "/root")).c_str()), 0);
  }
  void gone(uint32_t pid) { std::filesystem::remove_all(dir_ / ("proc/" + std::to_string(pid))); }

 private:
  const TempDir& dir_;
};

class EnvProbesTest : public ::testing::Test {
 protected:
  EnvProbesTest() : proc_(dir_) {
    // linked statically with its libc: its getenv is its own, not exported
    node_ = dir_.write("rootfs/usr/bin/node", build_elf({sym("uv_os_getenv", 0x10), sym(kEnumerate, 0x20)},
                                                        ET_EXEC, 0x400000));
    // the npm build: getenv from the shared libc (undefined, valued at its PLT stub)
    node_libc_ = dir_.write("rootfs/opt/node/bin/node",
                            build_elf({sym("uv_os_getenv", 0x10), sym(kEnumerate, 0x20), undef("getenv", 0x40)},
                                      ET_EXEC, 0x400000));
    node_dyn_ = dir_.write("rootfs/usr/bin/node18", build_elf({undef("uv_os_getenv", 0x10)}, ET_DYN));
    libc_ = dir_.write("rootfs/lib/libc.so.6", build_elf({sym("getenv", 0x30), sym("secure_getenv", 0x38)}));
    libuv_ = dir_.write("rootfs/lib/libuv.so.1", build_elf({sym("uv_os_getenv", 0x50), sym("uv_run", 0x58)}));
    libnode_ = dir_.write("rootfs/lib/libnode.so.108", build_elf({sym(kEnumerate, 0x60)}));
    libm_ = dir_.write("rootfs/lib/libm.so.6", build_elf({sym("sin", 0x10)}));
    probes_ = std::make_unique<EnvProbes>(kernel_.attach_fn(), kernel_.detach_fn(),
                                          std::make_shared<ProcFiles>(proc_.root()));
  }
  static TestSym undef(const std::string& name, uint64_t at) {
    TestSym s = sym(name, at);
    s.where = TestSym::kUndef;
    return s;
  }
  FakeProc::Map map(const std::string& file) { return FakeProc::Map{file, "", true, 0}; }

  TempDir dir_;
  FakeProc proc_;
  FakeKernel kernel_;
  std::string node_, node_libc_, node_dyn_, libc_, libuv_, libnode_, libm_;
  std::unique_ptr<EnvProbes> probes_;
};

const std::set<std::string> kNodeLinks = {at("cf_env_uv_getenv", 0x10), at("cf_env_enumerate", 0x20)};
const std::set<std::string> kLibcLinks = {at("cf_env_getenv", 0x30), at("cf_env_getenv_ret", 0x30),
                                          at("cf_env_secure_getenv", 0x38), at("cf_env_secure_getenv_ret", 0x38)};

TEST_F(EnvProbesTest, TwoProcessesShareOneAttachmentUntilBothExit) {
  for (uint32_t pid : {100u, 101u}) proc_.process(pid, node_, {map(node_), map(libc_), map(libm_)});
  probes_->process_started(100);
  EXPECT_EQ(kernel_.on(node_), kNodeLinks);
  EXPECT_EQ(kernel_.on(libc_), kLibcLinks);
  EXPECT_EQ(kernel_.links.size(), 6u);
  EXPECT_EQ(probes_->objects(), 2u);  // libm defines none of the symbols

  probes_->process_started(101);
  probes_->process_started(101);  // a rescan changes nothing
  EXPECT_EQ(kernel_.attaches, 6);

  probes_->process_exited(100);
  EXPECT_EQ(kernel_.detaches, 0);
  EXPECT_EQ(kernel_.links.size(), 6u);
  probes_->process_exited(101);
  EXPECT_EQ(kernel_.detaches, 6);
  EXPECT_TRUE(kernel_.links.empty());
  EXPECT_EQ(probes_->objects(), 0u);
  EnvProbes::Counters c = probes_->counters();
  EXPECT_EQ(c.attached, 6u);
  EXPECT_EQ(c.detached, 6u);
  EXPECT_EQ(c.attach_failures, 0u);
  EXPECT_EQ(c.open_failures, 0u);
  EXPECT_EQ(c.identity_mismatches, 0u);
}

// A process.env read in a node whose getenv is libc's is seen by libc's getenv probes alone: two
// traps, not uv_os_getenv's third.
TEST_F(EnvProbesTest, NodeCallingLibcGetenvIsNotProbedAtUvOsGetenv) {
  proc_.process(150, node_libc_, {map(node_libc_), map(libc_)});
  probes_->process_started(150);
  EXPECT_EQ(kernel_.on(node_libc_), (std::set<std::string>{at("cf_env_enumerate", 0x20)}));
  EXPECT_EQ(kernel_.on(libc_), kLibcLinks);
  EXPECT_EQ(kernel_.links.size(), 5u);
}

// Until the process maps a getenv that is probed (before its loader has run, or with a libc of
// its own whose symbols cannot be read), its own uv_os_getenv is probed, for it alone.
TEST_F(EnvProbesTest, UvOsGetenvIsProbedForAProcessUntilItsGetenvIs) {
  const std::string blind = dir_.write("rootfs/tmp/l/libc.so.6", "\x7f" "ELF not really");
  auto uv_links = [&] {
    std::vector<FakeKernel::Link> out;
    for (const auto& [h, l] : kernel_.links)
      if (l.prog == "cf_env_uv_getenv" && l.pid != -1) out.push_back(l);
    // with its return probe, for the same process: the getenv inside reports nothing
    size_t rets = 0;
    for (const auto& [h, l] : kernel_.links) rets += l.prog == "cf_env_uv_getenv_ret" && l.retprobe && l.pid != -1;
    EXPECT_EQ(rets, out.size());
    return out;
  };
  // at exec: only node is mapped
  proc_.process(160, node_libc_, {map(node_libc_)});
  probes_->process_started(160);
  auto uv = uv_links();
  ASSERT_EQ(uv.size(), 1u);
  EXPECT_EQ(uv[0].pid, 160);
  EXPECT_EQ(uv[0].offset, kTextOff + 0x10);
  EXPECT_EQ(uv[0].file, identity_of(node_libc_));
  // another process of the same node with its libc: no probe of its own, the first keeps its
  proc_.process(161, node_libc_, {map(node_libc_), map(libc_)});
  probes_->process_started(161);
  EXPECT_EQ(uv_links().size(), 1u);
  EXPECT_EQ(uv_links()[0].pid, 160);
  // a rescan of the first, now with a libc whose symbols cannot be read: still its own probe
  proc_.process(160, node_libc_, {map(node_libc_), map(blind)});
  probes_->process_started(160);
  ASSERT_EQ(uv_links().size(), 1u);
  EXPECT_EQ(uv_links()[0].pid, 160);
  // with the real libc mapped the getenv probes see its reads: its own probe goes
  proc_.process(160, node_libc_, {map(node_libc_), map(libc_)});
  probes_->process_started(160);
  EXPECT_TRUE(uv_links().empty());
  // and one kept to its exit goes with it
  proc_.process(162, node_libc_, {map(node_libc_)});
  probes_->process_started(162);
  EXPECT_EQ(uv_links().size(), 1u);
  probes_->process_exited(162);
  EXPECT_TRUE(uv_links().empty());
  // one whose entry cannot be attached keeps no lone return probe, and is tried again
  kernel_.fail["cf_env_uv_getenv"] = 1;
  proc_.process(163, node_libc_, {map(node_libc_)});
  probes_->process_started(163);
  EXPECT_TRUE(uv_links().empty());
  probes_->process_started(163);
  EXPECT_EQ(uv_links().size(), 1u);
  // after an exec into another program (one with its own getenv: a shared probe, no fallback),
  // the old program's probe goes
  proc_.process(163, node_, {map(node_)});
  probes_->process_started(163);
  EXPECT_TRUE(uv_links().empty());
  probes_->process_exited(163);
  for (const auto& [h, l] : kernel_.links) EXPECT_EQ(l.pid, -1) << l.prog;
}

TEST_F(EnvProbesTest, DynamicallyLinkedNodeGetsProbesOnItsLibraries) {
  proc_.process(200, node_dyn_, {map(node_dyn_), map(libuv_), map(libnode_), map(libc_)});
  probes_->process_started(200);
  EXPECT_TRUE(kernel_.on(node_dyn_).empty());
  EXPECT_EQ(kernel_.on(libuv_),
            (std::set<std::string>{at("cf_env_uv_getenv", 0x50)}));
  EXPECT_EQ(kernel_.on(libnode_), (std::set<std::string>{at("cf_env_enumerate", 0x60)}));
  EXPECT_EQ(kernel_.on(libc_), kLibcLinks);

  const std::vector<std::string> status = probes_->status();
  ASSERT_EQ(status.size(), 3u);
  std::string all;
  for (const std::string& s : status) all += s + "\n";
  EXPECT_NE(all.find(libuv_ + " (" + identity_of(libuv_).str() +
                     "): uv_os_getenv+0x1050 [cf_env_uv_getenv]; 1 process"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find(kEnumerate + "+0x1060 [cf_env_enumerate]"), std::string::npos) << all;
}

TEST_F(EnvProbesTest, ALibraryReachedByTwoPathsIsOneObject) {
  const std::string other = dir_ / "rootfs/opt/app/libuv.so.1";
  std::filesystem::create_directories(std::filesystem::path(other).parent_path());
  ASSERT_EQ(link(libuv_.c_str(), other.c_str()), 0);
  proc_.process(300, node_dyn_, {map(node_dyn_), map(libuv_)});
  proc_.process(301, node_dyn_, {map(node_dyn_), map(other)});
  probes_->process_started(300);
  probes_->process_started(301);
  EXPECT_EQ(kernel_.attaches, 1);
  ASSERT_EQ(probes_->status().size(), 1u);
  EXPECT_NE(probes_->status()[0].find("; 2 processes"), std::string::npos) << probes_->status()[0];
  probes_->process_exited(300);
  EXPECT_EQ(kernel_.detaches, 0);
  probes_->process_exited(301);
  EXPECT_EQ(kernel_.detaches, 1);
}

TEST_F(EnvProbesTest, FailedAttachIsCountedAndRetriedByTheNextProcess) {
  kernel_.fail["cf_env_secure_getenv"] = 1;  // the entry of a pair: its return probe is undone
  kernel_.fail["cf_env_getenv_ret"] = 1;     // the return of a pair: the entry is not tried
  kernel_.fail["cf_env_uv_getenv"] = 1;      // a lone entry
  proc_.process(400, node_, {map(node_), map(libc_)});
  proc_.process(401, node_, {map(node_), map(libc_)});
  probes_->process_started(400);
  EXPECT_EQ(kernel_.on(node_), (std::set<std::string>{at("cf_env_enumerate", 0x20)}));
  EXPECT_TRUE(kernel_.on(libc_).empty());
  EnvProbes::Counters c = probes_->counters();
  EXPECT_EQ(c.attach_failures, 3u);
  EXPECT_EQ(c.detached, 1u);  // cf_env_secure_getenv_ret, attached before its entry failed
  std::string all;
  for (const std::string& s : probes_->status()) all += s + "\n";
  EXPECT_NE(all.find("uv_os_getenv+0x1010 [not attached: cf_env_uv_getenv: injected failure; 1 failures]"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("secure_getenv+0x1038 [not attached: cf_env_secure_getenv: injected failure; 1 failures]"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("getenv+0x1030 [not attached: cf_env_getenv_ret: injected failure; 1 failures]"),
            std::string::npos)
      << all;

  probes_->process_started(401);
  EXPECT_EQ(kernel_.on(node_), kNodeLinks);
  EXPECT_EQ(kernel_.on(libc_), kLibcLinks);
  EXPECT_EQ(probes_->counters().attach_failures, 3u);
  for (const std::string& s : probes_->status()) EXPECT_EQ(s.find("not attached"), std::string::npos) << s;

  probes_->process_exited(400);
  probes_->process_exited(401);
  EXPECT_TRUE(kernel_.links.empty());
}

TEST_F(EnvProbesTest, ExecOfAnotherBinaryReleasesTheOldOne) {
  proc_.process(500, node_, {map(node_), map(libc_)});
  probes_->process_started(500);
  EXPECT_EQ(kernel_.links.size(), 6u);
  proc_.process(500, libm_, {map(libm_), map(libc_)});  // "exec" of something without Node in it
  probes_->process_started(500);
  EXPECT_TRUE(kernel_.on(node_).empty());
  EXPECT_EQ(kernel_.on(libc_), kLibcLinks);
  EXPECT_EQ(kernel_.attaches, 6);  // libc kept, not attached again
  probes_->process_exited(500);
  EXPECT_TRUE(kernel_.links.empty());
}

TEST_F(EnvProbesTest, AScanOfAProcessGoneIsItsExit) {
  proc_.process(600, node_, {map(node_)});
  probes_->process_started(600);
  EXPECT_EQ(kernel_.links.size(), 2u);
  proc_.gone(600);
  probes_->process_started(600);
  EXPECT_TRUE(kernel_.links.empty());
  probes_->process_exited(600);  // and the exit after it is harmless
  EXPECT_EQ(kernel_.detaches, 2);
}

TEST_F(EnvProbesTest, WithoutMapFilesThePathIsResolvedInTheProcessRoot) {
  // The process sees its libc as /lib/libc.so.6 through an absolute symlink of its own root.
  ASSERT_EQ(symlink("/lib/real/libc.so.6", (dir_ / "rootfs/lib/libc-link.so.6").c_str()), 0);
  dir_.mkdirs("rootfs/lib/real");
  ASSERT_EQ(rename(libc_.c_str(), (dir_ / "rootfs/lib/real/libc.so.6").c_str()), 0);
  libc_ = dir_ / "rootfs/lib/real/libc.so.6";
  FakeProc::Map m{libc_, "/lib/libc-link.so.6", false, 0};
  proc_.process(700, "", {m});
  probes_->process_started(700);
  EXPECT_EQ(kernel_.on(libc_), kLibcLinks);
  ASSERT_EQ(probes_->status().size(), 1u);
  EXPECT_EQ(probes_->status()[0].rfind("/lib/libc-link.so.6 (", 0), 0u) << probes_->status()[0];
}

TEST_F(EnvProbesTest, AFileThatIsNotTheMappedOneIsRefused) {
  FakeProc::Map lying{libc_, "", true, 1000003};  // maps names another inode than map_files gives
  FakeProc::Map deleted{libuv_, libuv_ + " (deleted)", false, 0};  // no map_files, no path to follow
  proc_.process(800, "", {lying, deleted});
  probes_->process_started(800);
  EXPECT_TRUE(kernel_.links.empty());
  EnvProbes::Counters c = probes_->counters();
  EXPECT_EQ(c.identity_mismatches, 1u);
  EXPECT_EQ(c.open_failures, 1u);
  EXPECT_EQ(probes_->objects(), 0u);
}

TEST_F(EnvProbesTest, ExecutableMappingsOfNonElfFilesAreCounted) {
  const std::string blob = dir_.write("rootfs/tmp/jit.bin", std::string(4096, '\x90'));
  proc_.process(900, "", {map(blob), map(libc_)});
  probes_->process_started(900);
  EXPECT_EQ(probes_->counters().not_elf, 1u);
  EXPECT_EQ(kernel_.on(libc_), kLibcLinks);
}

TEST_F(EnvProbesTest, DestructionDetachesEverything) {
  proc_.process(1000, node_, {map(node_), map(libc_)});
  probes_->process_started(1000);
  EXPECT_EQ(kernel_.links.size(), 6u);
  probes_.reset();
  EXPECT_TRUE(kernel_.links.empty());
}

// Per process (the agent's default): each probe is placed for each process alone, so a process
// not probed (the gateway, the rest of the host) maps libc with no breakpoint in it.
class EnvProbesPerProcessTest : public EnvProbesTest {
 protected:
  EnvProbesPerProcessTest() {
    probes_ = std::make_unique<EnvProbes>(kernel_.attach_fn(), kernel_.detach_fn(),
                                          std::make_shared<ProcFiles>(proc_.root()), Placement::kPerProcess);
  }
  // "prog@0xOFF" of the live links for `pid` on `file`
  std::set<std::string> on(const std::string& file, int pid) const {
    std::set<std::string> out;
    char off[32];
    for (const auto& [h, l] : kernel_.links) {
      if (l.file != identity_of(file) || l.pid != pid) continue;
      std::snprintf(off, sizeof(off), "@0x%" PRIx64, l.offset);
      out.insert(l.prog + off);
    }
    return out;
  }
  size_t everyone() const {
    size_t n = 0;
    for (const auto& [h, l] : kernel_.links) n += l.pid == -1;
    return n;
  }
};

TEST_F(EnvProbesPerProcessTest, EachProcessHasItsOwnProbesUntilItExits) {
  for (uint32_t pid : {100u, 101u}) proc_.process(pid, node_libc_, {map(node_libc_), map(libc_)});
  probes_->process_started(100);
  probes_->process_started(101);
  probes_->process_started(101);  // a rescan changes nothing
  EXPECT_EQ(everyone(), 0u);
  for (int pid : {100, 101}) {
    EXPECT_EQ(on(libc_, pid), kLibcLinks) << pid;
    EXPECT_EQ(on(node_libc_, pid), (std::set<std::string>{at("cf_env_enumerate", 0x20)})) << pid;
  }
  EXPECT_EQ(kernel_.links.size(), 10u);
  EXPECT_EQ(probes_->process_links(), 10u);
  probes_->process_exited(100);
  EXPECT_TRUE(on(libc_, 100).empty());
  EXPECT_EQ(on(libc_, 101), kLibcLinks);
  probes_->process_exited(101);
  EXPECT_TRUE(kernel_.links.empty());
  EXPECT_EQ(kernel_.attaches, kernel_.detaches);
  EXPECT_EQ(probes_->counters().attach_failures, 0u);
  EXPECT_EQ(probes_->objects(), 0u);
}

// Scanned at exec, before its loader has mapped libc: its probes go ahead on the libc other
// processes map, so the breakpoint is in when the loader maps it; the scan after the loader finds
// them in place (no second attach). Its own uv_os_getenv stands in meanwhile (a probe placed ahead
// is on a libc it may never map).
TEST_F(EnvProbesPerProcessTest, ProbesGoAheadOfTheLoaderOnTheLibcOthersMap) {
  proc_.process(1, node_, {map(node_), map(libc_)});
  probes_->learn(1);  // the agent's own libc: remembered, nothing placed for it
  EXPECT_TRUE(kernel_.links.empty());

  proc_.process(200, node_libc_, {map(node_libc_)});
  probes_->process_started(200);
  EXPECT_EQ(on(libc_, 200), kLibcLinks);
  EXPECT_EQ(on(node_libc_, 200), (std::set<std::string>{at("cf_env_uv_getenv", 0x10), at("cf_env_uv_getenv_ret", 0x10),
                                                          at("cf_env_enumerate", 0x20)}));
  const int attaches = kernel_.attaches;
  proc_.process(200, node_libc_, {map(node_libc_), map(libc_)});
  probes_->process_started(200);
  EXPECT_EQ(on(libc_, 200), kLibcLinks);
  EXPECT_EQ(on(node_libc_, 200), (std::set<std::string>{at("cf_env_enumerate", 0x20)}));  // fallback gone
  EXPECT_EQ(kernel_.attaches, attaches);
  EXPECT_EQ(everyone(), 0u);

  // a libc copy whose symbols cannot be read: the probes ahead on the real libc do not count as
  // its getenv, so its own uv_os_getenv stays
  const std::string blind = dir_.write("rootfs/tmp/l/libc.so.6", "\x7f" "ELF not really");
  proc_.process(201, node_libc_, {map(node_libc_), map(blind)});
  probes_->process_started(201);
  EXPECT_EQ(on(node_libc_, 201), (std::set<std::string>{at("cf_env_uv_getenv", 0x10), at("cf_env_uv_getenv_ret", 0x10),
                                                          at("cf_env_enumerate", 0x20)}));
  EXPECT_EQ(on(libc_, 201), kLibcLinks);  // ahead, harmless: it never maps that file
}

// Scans that are not an exec's (the loader's rescans) leave a libc probe that is no longer mapped
// waiting, ahead, for the loader to map it again. After an exec the probes are placed anew, and
// the old ones go only then: a probe belongs to a task, and a thread other than the first that
// execs becomes the process in another task (the old one, and its probes, go with the threads).
TEST_F(EnvProbesPerProcessTest, AnExecPlacesTheProbesAnewBeforeTheOldOnesGo) {
  proc_.process(300, node_libc_, {map(node_libc_), map(libc_)});
  probes_->process_started(300);
  int attaches = kernel_.attaches, detaches = kernel_.detaches;
  proc_.process(300, node_libc_, {map(node_libc_)});
  probes_->process_started(300);  // a rescan that finds libc gone: its probes wait ahead
  EXPECT_EQ(on(libc_, 300), kLibcLinks);
  EXPECT_EQ(kernel_.detaches, detaches);
  proc_.process(300, node_libc_, {map(node_libc_), map(libc_)});
  probes_->process_started(300);
  EXPECT_EQ(on(libc_, 300), kLibcLinks);
  EXPECT_EQ(kernel_.attaches, attaches + 2);  // (the uv_os_getenv stand-in came and went)

  // an exec: everything placed anew (libc ahead of the new loader), then the old links dropped
  attaches = kernel_.attaches;
  detaches = kernel_.detaches;
  const size_t before = kernel_.links.size();
  proc_.process(300, node_libc_, {map(node_libc_)});
  probes_->process_started(300, /*exec=*/true);
  EXPECT_EQ(on(libc_, 300), kLibcLinks);
  EXPECT_EQ(kernel_.detaches - detaches, static_cast<int>(before));
  EXPECT_EQ(kernel_.attaches - attaches, static_cast<int>(kernel_.links.size()));

  // a program whose getenv is in another library: the old libc's go
  const std::string libc2 = dir_.write("rootfs/opt/lib/libc.so.6", build_elf({sym("getenv", 0x70)}));
  proc_.process(300, node_, {map(node_), map(libc2)});
  probes_->process_started(300, true);
  EXPECT_TRUE(on(libc_, 300).empty());
  EXPECT_EQ(on(libc2, 300), (std::set<std::string>{at("cf_env_getenv", 0x70), at("cf_env_getenv_ret", 0x70)}));
  probes_->process_exited(300);
  EXPECT_TRUE(kernel_.links.empty());
}

// A scan that finds nothing probed mapped (an exec's, before the loader) is no exit: the probes
// placed ahead stay (the attack review's first finding: they had all been dropped).
TEST_F(EnvProbesPerProcessTest, AScanFindingNothingMappedKeepsTheProbesAhead) {
  proc_.process(1, node_, {map(node_), map(libc_)});
  probes_->learn(1);
  proc_.process(350, libm_, {map(libm_)});  // a program whose loader has not mapped libc yet
  probes_->process_started(350, true);
  EXPECT_EQ(on(libc_, 350), kLibcLinks);
  const int attaches = kernel_.attaches, detaches = kernel_.detaches;
  probes_->process_started(350);
  EXPECT_EQ(on(libc_, 350), kLibcLinks);
  EXPECT_EQ(kernel_.attaches, attaches);  // kept, not dropped and placed again
  EXPECT_EQ(kernel_.detaches, detaches);
  probes_->process_exited(350);
  EXPECT_TRUE(kernel_.links.empty());
}

// A process gone before its probe is placed: not a failure.
TEST_F(EnvProbesPerProcessTest, AProcessGoneBeforeItsProbeIsNoFailure) {
  proc_.process(400, node_libc_, {map(node_libc_), map(libc_)});
  kernel_.fail["cf_env_getenv_ret"] = 1;
  probes_->process_started(400);
  EXPECT_EQ(probes_->counters().attach_failures, 1u);  // still there: a failure, tried again
  probes_->process_started(400);
  EXPECT_EQ(on(libc_, 400), kLibcLinks);
  proc_.process(401, node_libc_, {map(node_libc_), map(libc_)});
  kernel_.fail["cf_env_getenv_ret"] = 1;
  auto fail_and_go = kernel_.attach_fn();
  probes_ = std::make_unique<EnvProbes>(
      [&](const std::string& prog, const std::string& path, uint64_t offset, bool ret, int pid, std::string* err) {
        void* l = fail_and_go(prog, path, offset, ret, pid, err);
        if (!l) proc_.gone(401);
        return l;
      },
      kernel_.detach_fn(), std::make_shared<ProcFiles>(proc_.root()), Placement::kPerProcess);
  probes_->process_started(401);
  EXPECT_EQ(probes_->counters().attach_failures, 0u);
}

// Links are destroyed off the caller's thread, their waits overlapping: 100 links whose
// destruction each blocks 100 ms take two batches, not ten seconds; none is lost at the end.
TEST(LinkReaperTest, DestroysInOverlappingBatchesAndFinishesAtTheEnd) {
  std::atomic<int> destroyed{0};
  std::mutex mu;
  std::set<uintptr_t> seen;
  auto destroy = [&](void* l) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_TRUE(seen.insert(reinterpret_cast<uintptr_t>(l)).second);
    ++destroyed;
  };
  const auto t0 = std::chrono::steady_clock::now();
  {
    LinkReaper reaper(destroy);
    for (uintptr_t i = 1; i <= 100; ++i) reaper.add(reinterpret_cast<void*>(i));
    reaper.add(nullptr);  // nothing
    for (int i = 0; i < 200 && reaper.pending() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(reaper.pending(), 0u);
    EXPECT_EQ(reaper.destroyed(), 100u);
    for (uintptr_t i = 101; i <= 110; ++i) reaper.add(reinterpret_cast<void*>(i));
  }  // the destructor finishes the last ten
  EXPECT_EQ(destroyed.load(), 110);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST(ParseMapsTest, FileMappingsOnly) {
  const std::string text =
      "00400000-00b6f000 r--p 00000000 fe:00 247823                     /usr/bin/node\n"
      "00b6f000-00b71000 r-xp 0076f000 fe:00 247823                     /usr/bin/node\n"
      "05660000-05a1f000 rw-p 00000000 00:00 0                          [heap]\n"
      "7f1c2a000000-7f1c2a028000 r-xp 00028000 103:02 1311            /opt/my app/lib x.so (deleted)\n"
      "7ffd1000-7ffd3000 r-xp 00000000 00:00 0                          [vdso]\n"
      "garbage\n";
  std::vector<Mapping> maps = parse_maps(text);
  ASSERT_EQ(maps.size(), 3u);
  EXPECT_EQ(maps[0].start, 0x400000u);
  EXPECT_EQ(maps[0].end, 0xb6f000u);
  EXPECT_FALSE(maps[0].exec);
  EXPECT_EQ(maps[0].dev_major, 0xfeu);
  EXPECT_EQ(maps[0].dev_minor, 0u);
  EXPECT_EQ(maps[0].ino, 247823u);
  EXPECT_EQ(maps[0].path, "/usr/bin/node");
  EXPECT_TRUE(maps[1].exec);
  EXPECT_EQ(maps[2].start, 0x7f1c2a000000u);
  EXPECT_EQ(maps[2].dev_major, 0x103u);
  EXPECT_EQ(maps[2].dev_minor, 2u);
  EXPECT_EQ(maps[2].path, "/opt/my app/lib x.so (deleted)");
}

// ---- EnvProbes over the real /proc -----------------------------------------------------------

TEST(EnvProbesRealTest, ThisProcessGetsTheLibcProbes) {
  void* addr = dlsym(RTLD_DEFAULT, "getenv");
  Dl_info info;
  ASSERT_TRUE(addr && dladdr(addr, &info));
  FakeKernel kernel;
  EnvProbes probes(kernel.attach_fn(), kernel.detach_fn());
  probes.process_started(static_cast<uint32_t>(getpid()));
  const std::set<std::string> on_libc = kernel.on(info.dli_fname);
  EXPECT_EQ(on_libc.size(), 4u) << info.dli_fname;
  for (const char* prog : {"cf_env_getenv@", "cf_env_getenv_ret@", "cf_env_secure_getenv@", "cf_env_secure_getenv_ret@"}) {
    bool found = false;
    for (const std::string& l : on_libc) found |= l.rfind(prog, 0) == 0;
    EXPECT_TRUE(found) << prog;
  }
  EXPECT_EQ(probes.counters().identity_mismatches, 0u);
  probes.process_exited(static_cast<uint32_t>(getpid()));
  EXPECT_TRUE(kernel.links.empty());
}

// A real node child: its probes go on the node binary (libuv built in) or on libuv/libnode, and
// the offsets found point at the code the process runs (read back through /proc/PID/mem; the
// first byte left out as above).
TEST(EnvProbesRealTest, ARunningNodeGetsItsProbes) {
  const std::string node = node_path();
  if (node.empty()) GTEST_SKIP() << "no node binary on this machine";
  char arg0[] = "node", arg1[] = "-e", arg2[] = "setTimeout(() => {}, 20000)";
  char* argv[] = {arg0, arg1, arg2, nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, node.c_str(), nullptr, nullptr, argv, environ), 0);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  } reaper{pid};

  // At exec only node and ld.so are mapped; wait for the loader to bring in libc.
  const std::string maps_path = "/proc/" + std::to_string(pid) + "/maps";
  bool loaded = false;
  for (int i = 0; i < 500 && !loaded; ++i) {
    std::ifstream in(maps_path);
    std::stringstream ss;
    ss << in.rdbuf();
    loaded = ss.str().find("libc.so") != std::string::npos;
    if (!loaded) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(loaded) << "libc never mapped in node " << pid;

  FakeKernel kernel;
  EnvProbes probes(kernel.attach_fn(), kernel.detach_fn());
  probes.process_started(static_cast<uint32_t>(pid));
  std::map<std::string, FakeKernel::Link> by_prog;
  for (const auto& [h, l] : kernel.links) by_prog[l.prog] = l;
  for (const char* prog : {"cf_env_enumerate", "cf_env_getenv", "cf_env_getenv_ret", "cf_env_secure_getenv",
                           "cf_env_secure_getenv_ret"})
    EXPECT_EQ(by_prog.count(prog), 1u) << prog;
  // uv_os_getenv only in a node with its own getenv; one calling libc's is seen there
  const bool libc_getenv = read_file(node, {"getenv"}).imports.count("getenv") > 0;
  EXPECT_EQ(by_prog.count("cf_env_uv_getenv"), libc_getenv ? 0u : 1u);
  for (const std::string& s : probes.status()) std::printf("  %s\n", s.c_str());

  // The entry points in the node binary itself, if libuv is built in: memory at the address nm
  // gives holds the file's bytes at the offset found.
  if (!kernel.on(node).empty() && !run("command -v nm").empty()) {
    const int mem = open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
    if (mem < 0) GTEST_SKIP() << "cannot read /proc/" << pid << "/mem";
    for (const std::string& name : {std::string("uv_os_getenv"), kEnumerate}) {
      if (name == "uv_os_getenv" && libc_getenv) continue;
      auto value = nm_value(node, name);
      ASSERT_TRUE(value.has_value()) << name;
      ElfSymbols s = read_file(node, {name});
      ASSERT_TRUE(s.offset(name).has_value());
      // A non-PIE node runs at its link addresses; a PIE one (first PT_LOAD at 0) at the start
      // of its first mapping.
      uint64_t bias = 0;
      if (read_at(node, EI_NIDENT, 2) != std::string("\x02\x00", 2)) {  // e_type != ET_EXEC
        std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
        std::stringstream ss;
        ss << in.rdbuf();
        for (const Mapping& m : parse_maps(ss.str()))
          if (m.path == node) {
            bias = m.start;
            break;
          }
      }
      std::string in_mem(16, '\0');
      ASSERT_EQ(pread(mem, in_mem.data(), 16, static_cast<off_t>(*value + bias)), 16) << name;
      EXPECT_EQ(read_at(node, *s.offset(name), 16).substr(1), in_mem.substr(1)) << name;
    }
    close(mem);
  }
  probes.process_exited(static_cast<uint32_t>(pid));
  EXPECT_TRUE(kernel.links.empty());
}

}  // namespace
}  // namespace clawfence::env
