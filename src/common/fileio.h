// File helpers that never leave a half-written file behind.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace rho {

// Reads a whole file; UserError naming the file when it is missing or unreadable.
std::string read_file(const std::string& path);

// Writes `path` atomically: the writer fills `path.tmp.<pid>`, which is fsync'ed and renamed over
// `path`. On any failure (e.g. disk full) the temporary is removed, the old `path` stays intact,
// and a UserError names the file. Refuses to replace anything but a regular file (a device, a
// directory).
void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& writer);
void write_file_atomic(const std::string& path, const std::string& contents);

// fflush + fsync + fclose of `f` (always closed); UserError naming `path` with the first error
// (ENOSPC from a full disk surfaces here).
void close_checked(std::FILE* f, const std::string& path);

// fwrite that throws (naming `path`) on a short write.
void fwrite_checked(std::FILE* f, const void* data, size_t bytes, const std::string& path);

// 64-bit FNV-1a: fingerprints of tokenizers, shards and models (not cryptographic; detects
// mismatched files, not tampering).
uint64_t fnv1a64(const void* data, size_t n, uint64_t seed = 0xcbf29ce484222325ULL);
std::string hex64(uint64_t v);

// Removes what killed writers left in `dir`: entries named "<name>.tmp.<pid>" (files or whole
// directories) whose process no longer runs. Live writers' temporaries are left alone.
// Returns how many were removed.
int remove_stale_temps(const std::string& dir);

// fsync of a directory, so a rename in it survives a power loss (best effort: some file systems
// refuse it, which is harmless).
void fsync_dir(const std::string& dir);

bool file_exists(const std::string& path);
void make_dirs(const std::string& path);
// Removes a file if it is there; UserError when it exists and cannot be removed.
void remove_file_if_exists(const std::string& path);

}  // namespace rho
