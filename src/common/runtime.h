// Process-wide runtime concerns: which BLAS is loaded, thread counts, memory, progress text.
#pragma once
#include <cstdint>
#include <string>

namespace rho {

// The realpath of the libblas.so.3 this process loaded ("" if none is mapped).
std::string loaded_blas_path();
// Prints a warning on stderr when libtorch runs on Debian's reference BLAS (~20x slower than
// OpenBLAS here). Called once at start-up by the CLI.
void warn_if_reference_blas();

// Keeps freed tensor memory in the heap instead of returning it to the kernel. glibc's default
// maps every large block (a logits or activation tensor) with mmap and unmaps it on free, so
// each step page-faults its whole working set again: measured on the debug preset, an SLM step
// with an online reference took 333 ms with the defaults and 106 ms with equivalent MALLOC_*_
// environment settings. Returns false if glibc refused a setting.
bool tune_allocator();

// Intra-op threads for libtorch. Debian's libtorch defaults to 1 and OpenBLAS (pthreads) uses
// every core by itself; also raising libtorch's count oversubscribes the cores (measured: half
// the throughput on 2 cores). 0 keeps libtorch's default. OPENBLAS_NUM_THREADS is honoured by
// OpenBLAS as usual.
void configure_threads(int torch_threads);
// OpenBLAS's own thread count (openblas_set_num_threads, looked up at run time); n <= 0 keeps
// OpenBLAS's choice (OPENBLAS_NUM_THREADS, else every core). Returns false when the loaded BLAS
// is not OpenBLAS.
bool configure_blas_threads(int n);
// OpenBLAS's thread count now, or 0 when the BLAS is not OpenBLAS.
int blas_threads();

// Peak resident set size of this process, in bytes.
int64_t peak_rss_bytes();
// Resident set size now, in bytes (/proc/self/statm; 0 where it cannot be read).
int64_t current_rss_bytes();

std::string format_duration(double seconds);  // "1h02m", "3m20s", "42s"
std::string format_count(double v);           // 12345 -> "12.3k", 1.5e6 -> "1.50M"

}  // namespace rho
