// Function symbols of ELF files as uprobe offsets, resolved once per file.
//
// A uprobe is placed by (inode, file offset). A symbol's st_value is a virtual address (absolute
// in an ET_EXEC binary, load-relative in an ET_DYN one); the file offset is that address moved
// from the executable PT_LOAD segment that holds it into the file: st_value - p_vaddr + p_offset.
// libbpf's elf_sym_offset computes the same from the symbol's section (sh_addr, sh_offset); the
// two agree because a loadable section lies inside one segment at the segment's delta. The
// segment form also checks that the address is file-backed code.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace clawfence::env {

// What a file is, independent of the path it was reached by: a file replaced in place (a new
// inode, or the same one rewritten: size and mtime change) is another file.
struct FileIdentity {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;

  static FileIdentity of(const struct stat& st);
  bool operator==(const FileIdentity& o) const {
    return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns;
  }
  bool operator!=(const FileIdentity& o) const { return !(*this == o); }
  bool operator<(const FileIdentity& o) const;
  std::string str() const;  // "dev 254:0 ino 1234"
};

// The wanted symbols found in one file.
struct ElfSymbols {
  bool elf = false;    // an ET_EXEC or ET_DYN ELF file whose headers could be read
  std::string error;   // why not, when !elf
  // Name (without any @VERSION) → file offset, for the names found as defined functions in an
  // executable segment. A name missing here is absent from the file.
  std::map<std::string, uint64_t> offsets;
  // Names defined more than once at different offsets with equal standing (both default
  // version, both global): left out of `offsets` rather than probing a guess.
  std::vector<std::string> ambiguous;
  // Wanted names the file calls from a shared library: undefined function entries of .dynsym.
  std::set<std::string> imports;

  std::optional<uint64_t> offset(const std::string& name) const;
};

// Reads the function symbols `names` from the ELF file open at `fd` (not closed, position
// unchanged): .dynsym first, then the global and weak entries of .symtab for names .dynsym does
// not define, as a stripped binary keeps only .dynsym and a static one only .symtab. Versioned
// names (getenv@@GLIBC_2.2.5 in .symtab, or a version from .gnu.version) match their bare name;
// the default version wins over a hidden one, a global binding over a weak one.
ElfSymbols read_elf_symbols(int fd, const std::vector<std::string>& names);

// read_elf_symbols, cached by file identity so each binary is parsed once however many
// processes map it and by whatever paths. Results for files without any wanted symbol are kept
// too (most libraries of a watched process). Bounded: the least recently used entry goes first.
// Not thread-safe; the owner serialises calls.
class SymbolCache {
 public:
  explicit SymbolCache(std::vector<std::string> names, size_t capacity = 1024);

  // The symbols of the file open at `fd`, whose fstat is `id`.
  std::shared_ptr<const ElfSymbols> lookup(int fd, const FileIdentity& id);
  // Opens `path` (read-only, following links) and looks it up; nullptr with *err set when the
  // file cannot be opened or stat'ed.
  std::shared_ptr<const ElfSymbols> lookup_path(const std::string& path, std::string* err = nullptr);

  const std::vector<std::string>& names() const { return names_; }
  uint64_t parses() const { return parses_; }  // files read so far (cache misses)
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::shared_ptr<const ElfSymbols> symbols;
    std::list<FileIdentity>::iterator lru;
  };
  std::vector<std::string> names_;
  size_t capacity_;
  std::map<FileIdentity, Entry> entries_;
  std::list<FileIdentity> lru_;  // front: most recently used
  uint64_t parses_ = 0;
};

}  // namespace clawfence::env
