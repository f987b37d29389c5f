#include "env/symbols.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <tuple>

namespace clawfence::env {
namespace {

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};
using ElfPtr = std::unique_ptr<Elf, ElfCloser>;

bool libelf_ready() {
  static const bool ready = elf_version(EV_CURRENT) != EV_NONE;
  return ready;
}

// An executable PT_LOAD segment's file-backed part.
struct Segment {
  uint64_t vaddr = 0;
  uint64_t filesz = 0;
  uint64_t offset = 0;
};

std::optional<uint64_t> file_offset(const std::vector<Segment>& segments, uint64_t vaddr) {
  for (const Segment& s : segments)
    if (vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz) return vaddr - s.vaddr + s.offset;
  return std::nullopt;
}

// The best definition of one name seen so far.
struct Candidate {
  uint64_t offset = 0;
  int rank = -1;
  bool ambiguous = false;
};

// Higher is better: the default version over a hidden one (realpath@GLIBC_2.2.5 is kept for old
// binaries; calls from new ones go to realpath@@GLIBC_2.3), then a global binding over a weak one.
int rank_of(bool hidden, int bind) { return (hidden ? 0 : 2) + (bind == STB_GLOBAL ? 1 : 0); }

void offer(Candidate& c, uint64_t offset, int rank) {
  if (rank > c.rank) {
    c = Candidate{offset, rank, false};
  } else if (rank == c.rank && offset != c.offset) {
    c.ambiguous = true;
  }
}

// Reads one symbol table (SHT_DYNSYM or SHT_SYMTAB) into `found` for the wanted names that
// `skip` does not already hold; with `imports`, the wanted names it has as undefined functions.
void scan_table(Elf* elf, Elf_Scn* scn, Elf_Data* versyms, const std::vector<Segment>& segments,
                const std::vector<std::string>& names, const std::map<std::string, Candidate>& skip,
                std::map<std::string, Candidate>& found, std::set<std::string>* imports) {
  GElf_Shdr sh;
  if (!gelf_getshdr(scn, &sh) || sh.sh_entsize == 0) return;
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (!data) return;
  const size_t count = data->d_size / sh.sh_entsize;
  const bool dynamic = sh.sh_type == SHT_DYNSYM;
  for (size_t i = 0; i < count; ++i) {
    GElf_Sym sym;
    if (!gelf_getsym(data, static_cast<int>(i), &sym)) continue;
    // Only real functions: STT_GNU_IFUNC's address is its resolver, not the implementation.
    if (GELF_ST_TYPE(sym.st_info) != STT_FUNC) continue;
    const int bind = GELF_ST_BIND(sym.st_info);
    // Locals of .symtab are file-static helpers that merely share a name.
    if (bind != STB_GLOBAL && bind != STB_WEAK) continue;
    const bool undefined = sym.st_shndx == SHN_UNDEF;
    // An undefined symbol of a non-PIE executable can carry a value: the address of its PLT
    // stub, which is not the function.
    if (!undefined && (sym.st_shndx >= SHN_LORESERVE || sym.st_value == 0)) continue;
    if (undefined && !imports) continue;
    const char* raw = elf_strptr(elf, sh.sh_link, sym.st_name);
    if (!raw || !*raw) continue;
    std::string_view name(raw);
    bool hidden = false;
    if (size_t at = name.find('@'); at != std::string_view::npos) {
      hidden = name.substr(at, 2) != "@@";
      name = name.substr(0, at);
    }
    auto wanted = std::find(names.begin(), names.end(), name);
    if (wanted == names.end()) continue;
    if (undefined) {
      imports->insert(*wanted);
      continue;
    }
    if (skip.count(*wanted)) continue;
    if (dynamic && versyms) {
      GElf_Versym v;
      if (gelf_getversym(versyms, static_cast<int>(i), &v) && (v & 0x8000)) hidden = true;
    }
    auto offset = file_offset(segments, sym.st_value);
    if (!offset) continue;
    offer(found[*wanted], *offset, rank_of(hidden, bind));
  }
}

}  // namespace

FileIdentity FileIdentity::of(const struct stat& st) {
  FileIdentity id;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return id;
}

bool FileIdentity::operator<(const FileIdentity& o) const {
  return std::tie(dev, ino, size, mtime_ns) < std::tie(o.dev, o.ino, o.size, o.mtime_ns);
}

std::string FileIdentity::str() const {
  return "dev " + std::to_string(major(dev)) + ":" + std::to_string(minor(dev)) + " ino " + std::to_string(ino);
}

std::optional<uint64_t> ElfSymbols::offset(const std::string& name) const {
  auto it = offsets.find(name);
  if (it == offsets.end()) return std::nullopt;
  return it->second;
}

ElfSymbols read_elf_symbols(int fd, const std::vector<std::string>& names) {
  ElfSymbols out;
  if (!libelf_ready()) {
    out.error = "libelf: version mismatch";
    return out;
  }
  ElfPtr elf(elf_begin(fd, ELF_C_READ_MMAP, nullptr));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) {
    out.error = "not an ELF file";
    return out;
  }
  GElf_Ehdr ehdr;
  if (!gelf_getehdr(elf.get(), &ehdr)) {
    out.error = std::string("ELF header: ") + elf_errmsg(-1);
    return out;
  }
  if (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN) {
    out.error = "ELF type " + std::to_string(ehdr.e_type) + " is neither an executable nor a shared object";
    return out;
  }
  size_t nphdr = 0;
  if (elf_getphdrnum(elf.get(), &nphdr) != 0) {
    out.error = std::string("program headers: ") + elf_errmsg(-1);
    return out;
  }
  std::vector<Segment> segments;
  for (size_t i = 0; i < nphdr; ++i) {
    GElf_Phdr ph;
    if (!gelf_getphdr(elf.get(), static_cast<int>(i), &ph)) continue;
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) segments.push_back({ph.p_vaddr, ph.p_filesz, ph.p_offset});
  }
  out.elf = true;

  Elf_Scn* dynsym = nullptr;
  Elf_Scn* symtab = nullptr;
  Elf_Data* versyms = nullptr;
  for (Elf_Scn* scn = elf_nextscn(elf.get(), nullptr); scn; scn = elf_nextscn(elf.get(), scn)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    if (sh.sh_type == SHT_DYNSYM && !dynsym) dynsym = scn;
    if (sh.sh_type == SHT_SYMTAB && !symtab) symtab = scn;
    if (sh.sh_type == SHT_GNU_versym && !versyms) versyms = elf_getdata(scn, nullptr);
  }

  std::map<std::string, Candidate> found;
  if (dynsym) scan_table(elf.get(), dynsym, versyms, segments, names, {}, found, &out.imports);
  if (symtab && found.size() < names.size()) {
    std::map<std::string, Candidate> more;
    scan_table(elf.get(), symtab, nullptr, segments, names, found, more, nullptr);
    found.insert(more.begin(), more.end());
  }
  for (const auto& [name, c] : found) {
    if (c.ambiguous)
      out.ambiguous.push_back(name);
    else
      out.offsets[name] = c.offset;
  }
  return out;
}

SymbolCache::SymbolCache(std::vector<std::string> names, size_t capacity)
    : names_(std::move(names)), capacity_(std::max<size_t>(capacity, 1)) {}

std::shared_ptr<const ElfSymbols> SymbolCache::lookup(int fd, const FileIdentity& id) {
  auto it = entries_.find(id);
  if (it != entries_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second.symbols;
  }
  auto symbols = std::make_shared<const ElfSymbols>(read_elf_symbols(fd, names_));
  ++parses_;
  if (entries_.size() >= capacity_) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(id);
  entries_.emplace(id, Entry{symbols, lru_.begin()});
  return symbols;
}

std::shared_ptr<const ElfSymbols> SymbolCache::lookup_path(const std::string& path, std::string* err) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (err) *err = path + ": " + std::strerror(errno);
    return nullptr;
  }
  struct stat st;
  std::shared_ptr<const ElfSymbols> out;
  if (fstat(fd, &st) != 0) {
    if (err) *err = path + ": " + std::strerror(errno);
  } else {
    out = lookup(fd, FileIdentity::of(st));
  }
  close(fd);
  return out;
}

}  // namespace clawfence::env
