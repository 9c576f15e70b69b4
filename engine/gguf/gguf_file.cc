#include "engine/gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/gguf/string_compat.h"

namespace hearth::engine {
namespace {

using gguf_internal::ToAbsl;

absl::Status ErrnoError(int err, std::string_view what, std::string_view path) {
  const std::string message =
      absl::StrCat("gguf: cannot ", ToAbsl(what), " '", ToAbsl(path), "': ", strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    default:
      return absl::UnavailableError(message);
  }
}

// Prefixes a key-scoped conversion error with the key.
absl::Status KeyError(std::string_view key, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat("gguf: key '", ToAbsl(key), "': ", status.message()));
}

}  // namespace

namespace {

// Reads `size` bytes of `fd` into anonymous memory. DataLoss when the file ends early (it
// shrank while being read).
absl::StatusOr<uint8_t*> ReadIntoMemory(int fd, size_t size, const std::string& path) {
  void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "gguf: cannot allocate ", size, " bytes to read '", path, "' into: ", strerror(errno)));
  }
  auto* base = static_cast<uint8_t*>(map);
  size_t done = 0;
  while (done < size) {
    const size_t chunk = std::min<size_t>(size - done, size_t{1} << 30);
    const ssize_t n = ::pread(fd, base + done, chunk, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::munmap(map, size);
      if (n == 0) {
        return absl::DataLossError(absl::StrCat("gguf: '", path, "' ended at byte ", done, " of ",
                                                size, " while being read"));
      }
      return ErrnoError(err, "read", path);
    }
    done += static_cast<size_t>(n);
  }
  ::mprotect(map, size, PROT_READ);  // immutable from here, as a read-only mapping would be
  return base;
}

}  // namespace

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path, GgufLoad load) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below); it changes
  // nothing for regular files.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ErrnoError(errno, "open", path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoError(err, "stat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("gguf: '", path, "' is not a regular file"));
  }
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ > 0 && load == GgufLoad::kCopy) {
    absl::StatusOr<uint8_t*> copy = ReadIntoMemory(fd, file->size_, path);
    if (!copy.ok()) {
      ::close(fd);
      return copy.status();
    }
    file->base_ = *copy;
    file->mapped_ = true;
  } else if (file->size_ > 0) {
    void* map = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return ErrnoError(err, "mmap", path);
    }
    file->base_ = static_cast<const uint8_t*>(map);
    file->mapped_ = true;
  }
  ::close(fd);  // the mapping keeps the file alive
  absl::Status status = file->Parse();
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat(status.message(), " [", path, "]"));
  }
  return file;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::FromBytes(std::string_view bytes) {
  // Copy into a 64-byte aligned buffer so tensor data is as aligned as in a mapping.
  constexpr size_t kAlign = 64;
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->owned_.reset(new uint8_t[bytes.size() + kAlign]);
  const auto address = reinterpret_cast<uintptr_t>(file->owned_.get());
  uint8_t* base = file->owned_.get() + (kAlign - address % kAlign) % kAlign;
  if (!bytes.empty()) std::memcpy(base, bytes.data(), bytes.size());
  file->base_ = base;
  file->size_ = bytes.size();
  RETURN_IF_ERROR(file->Parse());
  return file;
}

GgufFile::~GgufFile() {
  if (mapped_) ::munmap(const_cast<uint8_t*>(base_), size_);
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = metadata_index_.find(ToAbsl(key));
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufTensor* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(ToAbsl(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

absl::StatusOr<const GgufValue*> Lookup(const GgufFile& file, std::string_view key) {
  const GgufValue* value = file.Find(key);
  if (value == nullptr)
    return absl::NotFoundError(absl::StrCat("gguf: key '", ToAbsl(key), "' not found"));
  return value;
}

absl::Status WrongType(std::string_view key, const GgufValue& value, std::string_view wanted) {
  return absl::InvalidArgumentError(absl::StrCat("gguf: key '", ToAbsl(key), "' holds ",
                                                 DescribeValue(value), ", not ", ToAbsl(wanted)));
}

// Converts every element of the array at `key` with `convert`.
template <typename T, typename Convert>
absl::StatusOr<std::vector<T>> ConvertArray(const GgufFile& file, std::string_view key,
                                            Convert convert) {
  ASSIGN_OR_RETURN(const GgufArray* array, file.GetArray(key));
  std::vector<T> out;
  out.reserve(array->elements.size());
  for (size_t i = 0; i < array->elements.size(); ++i) {
    absl::StatusOr<T> v = convert(array->elements[i]);
    if (!v.ok()) {
      return absl::Status(v.status().code(), absl::StrCat("gguf: key '", ToAbsl(key), "' element ",
                                                          i, ": ", v.status().message()));
    }
    out.push_back(*std::move(v));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> GgufFile::GetString(std::string_view key) const {
  ASSIGN_OR_RETURN(const GgufValue* value, Lookup(*this, key));
  if (const auto* s = std::get_if<std::string>(&value->value)) return *s;
  return WrongType(key, *value, "a string");
}

absl::StatusOr<uint64_t> GgufFile::GetUint(std::string_view key) const {
  ASSIGN_OR_RETURN(const GgufValue* value, Lookup(*this, key));
  absl::StatusOr<uint64_t> v = ValueAsUint(*value);
  if (!v.ok()) return KeyError(key, v.status());
  return v;
}

absl::StatusOr<int64_t> GgufFile::GetInt(std::string_view key) const {
  ASSIGN_OR_RETURN(const GgufValue* value, Lookup(*this, key));
  absl::StatusOr<int64_t> v = ValueAsInt(*value);
  if (!v.ok()) return KeyError(key, v.status());
  return v;
}

absl::StatusOr<double> GgufFile::GetFloat(std::string_view key) const {
  ASSIGN_OR_RETURN(const GgufValue* value, Lookup(*this, key));
  absl::StatusOr<double> v = ValueAsFloat(*value);
  if (!v.ok()) return KeyError(key, v.status());
  return v;
}

absl::StatusOr<bool> GgufFile::GetBool(std::string_view key) const {
  ASSIGN_OR_RETURN(const GgufValue* value, Lookup(*this, key));
  if (const auto* b = std::get_if<bool>(&value->value)) return *b;
  return WrongType(key, *value, "a bool");
}

absl::StatusOr<const GgufArray*> GgufFile::GetArray(std::string_view key) const {
  ASSIGN_OR_RETURN(const GgufValue* value, Lookup(*this, key));
  if (const auto* a = std::get_if<GgufArray>(&value->value)) return a;
  return WrongType(key, *value, "an array");
}

absl::StatusOr<std::vector<std::string>> GgufFile::GetStringArray(std::string_view key) const {
  return ConvertArray<std::string>(
      *this, key, [](const GgufValue& v) -> absl::StatusOr<std::string> {
        if (const auto* s = std::get_if<std::string>(&v.value)) return *s;
        return absl::InvalidArgumentError(absl::StrCat(DescribeValue(v), " is not a string"));
      });
}

absl::StatusOr<std::vector<float>> GgufFile::GetFloatArray(std::string_view key) const {
  return ConvertArray<float>(*this, key, [](const GgufValue& v) -> absl::StatusOr<float> {
    ASSIGN_OR_RETURN(double d, ValueAsFloat(v));
    return static_cast<float>(d);
  });
}

absl::StatusOr<std::vector<int64_t>> GgufFile::GetIntArray(std::string_view key) const {
  return ConvertArray<int64_t>(*this, key, ValueAsInt);
}

}  // namespace hearth::engine
