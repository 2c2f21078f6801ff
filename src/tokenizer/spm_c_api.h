// A C interface to sentencepiece, implemented by librho_spm.so (spm_shim.cpp) and loaded with
// dlopen(RTLD_LOCAL | RTLD_DEEPBIND).
//
// Why: Debian's libsentencepiece bundles its own protobuf-lite 3.14 and exports those symbols,
// while libtorch pulls in the system protobuf 3.21 (through onnx). Linked into one process the
// two interpose each other and the process crashes before main() (seen here: a program linking
// libtorch_cpu and libsentencepiece segfaults in protobuf's static initialisers). Loaded
// privately and deep-bound, sentencepiece keeps its protobuf to itself.
#pragma once
#include <stddef.h>
#include <stdint.h>

extern "C" {
typedef struct rho_spm rho_spm;
// Buffers returned through char** / int32_t** are malloc'ed; free them with rho_spm_free_buf.
// Functions returning int return 0 on success, nonzero with *err set otherwise.
rho_spm* rho_spm_load(const char* proto, size_t n, char** err);
void rho_spm_free(rho_spm* sp);
int rho_spm_encode(rho_spm* sp, const char* text, size_t n, int32_t** ids, size_t* n_ids, char** err);
int rho_spm_decode(rho_spm* sp, const int32_t* ids, size_t n, char** text, size_t* n_text, char** err);
int rho_spm_piece(rho_spm* sp, int32_t id, char** piece, size_t* n_piece);
float rho_spm_score(rho_spm* sp, int32_t id);
int32_t rho_spm_size(rho_spm* sp);
int32_t rho_spm_bos(rho_spm* sp);
int32_t rho_spm_eos(rho_spm* sp);
// Trains from key/value flags (sentencepiece's names, without "--"); returns the model proto.
int rho_spm_train(const char* const* keys, const char* const* values, size_t n, unsigned seed,
                  char** proto, size_t* n_proto, char** err);
void rho_spm_free_buf(void* p);
}
