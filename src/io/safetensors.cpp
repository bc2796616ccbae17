#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "io/safetensors_header.h"
#include "tessera/io.h"

namespace tessera {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("safetensors file '" + path + "': " + what);
}

std::string errno_text() { return std::strerror(errno); }

struct DtypeName {
  const char* name;
  Dtype dtype;
};

constexpr DtypeName kDtypes[] = {{"BOOL", bool_},  {"U8", uint8},     {"U32", uint32},
                                 {"I8", int8},     {"I32", int32},     {"I64", int64},
                                 {"F16", float16}, {"BF16", bfloat16}, {"F32", float32}};

const char* safetensors_name(Dtype dtype) {
  for (const auto& d : kDtypes) {
    if (d.dtype == dtype) return d.name;
  }
  throw std::logic_error("safetensors: no name for dtype " + to_string(dtype));
}

Dtype core_dtype(const io::SafetensorsTensorInfo& info, const std::string& path) {
  for (const auto& d : kDtypes) {
    if (info.dtype == d.name) return d.dtype;
  }
  fail(path, "tensor '" + info.name + "' has unsupported dtype " + info.dtype +
                 " (supported: BOOL U8 U32 I8 I32 I64 F16 BF16 F32)");
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting failure (a failed close can mean lost writes).
  bool close() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

// A private copy-on-write mapping of a whole file: reads share the page cache, and an array
// whose buffer is reused for an op's output can be written without touching the file.
class FileMapping {
 public:
  FileMapping(int fd, size_t size, const std::string& path) : size_(size) {
    base_ = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (base_ == MAP_FAILED) fail(path, "mmap failed: " + errno_text());
  }
  ~FileMapping() { ::munmap(base_, size_); }
  FileMapping(const FileMapping&) = delete;
  FileMapping& operator=(const FileMapping&) = delete;
  char* data() const { return static_cast<char*>(base_); }

 private:
  void* base_;
  size_t size_;
};

// An array over `bytes` of the mapping. Data that is not aligned for its dtype (possible in
// files from other writers) is copied out, so kernels may rely on natural alignment.
array make_tensor(const std::shared_ptr<FileMapping>& mapping, char* bytes, size_t nbytes, Shape shape,
                  Dtype dtype) {
  if (reinterpret_cast<uintptr_t>(bytes) % size_of(dtype) == 0) {
    return array(bytes, std::move(shape), dtype, [mapping](void*) {});
  }
  void* copy = std::aligned_alloc(64, (nbytes + 63) / 64 * 64);
  if (copy == nullptr) throw std::bad_alloc();
  std::memcpy(copy, bytes, nbytes);
  return array(copy, std::move(shape), dtype, [](void* p) { std::free(p); });
}

void write_all(int fd, const char* data, size_t n, const std::string& tmp_path) {
  while (n > 0) {
    ssize_t written = ::write(fd, data, n);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) fail(tmp_path, "write failed: " + errno_text());
    data += written;
    n -= static_cast<size_t>(written);
  }
}

struct Entry {
  std::string name;
  array tensor;
};

// The header text: sorted keys (std::map order), offsets in data order, padded with spaces to
// a multiple of 8 bytes so that the data area starts aligned.
std::string make_header(const std::vector<Entry>& entries, const std::unordered_map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) {
    nlohmann::json meta = nlohmann::json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const auto& e : entries) {
    uint64_t end = offset + e.tensor.nbytes();
    header[e.name] = {{"dtype", safetensors_name(e.tensor.dtype())}, {"shape", e.tensor.shape()}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

void write_file(const std::string& tmp_path, const std::string& header, std::vector<Entry>& entries) {
  FileDescriptor fd(::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) fail(tmp_path, "cannot create: " + errno_text());
  char prefix[8];
  uint64_t size = header.size();
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((size >> (8 * i)) & 0xff);
  write_all(fd.get(), prefix, 8, tmp_path);
  write_all(fd.get(), header.data(), header.size(), tmp_path);
  std::vector<char> staging;
  for (auto& e : entries) {
    const array& t = e.tensor;
    if (t.flags().row_contiguous) {
      write_all(fd.get(), t.data<char>(), t.nbytes(), tmp_path);
    } else {
      staging.resize(t.nbytes());
      detail::copy_out(t, staging.data(), t.dtype());
      write_all(fd.get(), staging.data(), staging.size(), tmp_path);
    }
  }
  if (!fd.close()) fail(tmp_path, "close failed: " + errno_text());
}

}  // namespace

SafetensorsFile load_safetensors(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) fail(path, "cannot open: " + errno_text());
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) fail(path, "cannot stat: " + errno_text());
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  auto file_size = static_cast<uint64_t>(st.st_size);

  io::SafetensorsHeader header = io::read_safetensors_header(fd.get(), file_size, path);
  std::vector<Dtype> dtypes;
  for (const auto& info : header.tensors) dtypes.push_back(core_dtype(info, path));

  SafetensorsFile file;
  file.metadata.insert(header.metadata.begin(), header.metadata.end());
  auto mapping = std::make_shared<FileMapping>(fd.get(), file_size, path);
  for (size_t i = 0; i < header.tensors.size(); ++i) {
    const auto& info = header.tensors[i];
    char* bytes = mapping->data() + header.data_offset + info.data_begin;
    file.tensors.emplace(info.name, make_tensor(mapping, bytes, info.data_end - info.data_begin,
                                                Shape(info.shape.begin(), info.shape.end()), dtypes[i]));
  }
  return file;
}

void save_safetensors(const std::string& path, const std::unordered_map<std::string, array>& tensors,
                      const std::unordered_map<std::string, std::string>& metadata) {
  std::vector<Entry> entries;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__") fail(path, "'__metadata__' is reserved and cannot name a tensor");
    entries.push_back({name, tensor});
  }
  std::vector<array> to_eval;
  for (const auto& e : entries) to_eval.push_back(e.tensor);
  eval(to_eval);
  // Wider dtypes first keeps every tensor aligned to its element size in the data area.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.tensor.itemsize() != b.tensor.itemsize()) return a.tensor.itemsize() > b.tensor.itemsize();
    return a.name < b.name;
  });

  std::string header = make_header(entries, metadata);
  std::string tmp_path = path + ".tmp";
  try {
    write_file(tmp_path, header, entries);
  } catch (...) {
    ::unlink(tmp_path.c_str());
    throw;
  }
  if (::rename(tmp_path.c_str(), path.c_str()) != 0) {
    std::string reason = errno_text();
    ::unlink(tmp_path.c_str());
    fail(path, "cannot rename " + tmp_path + " into place: " + reason);
  }
}

}  // namespace tessera
