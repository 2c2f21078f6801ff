// librho_spm.so: sentencepiece behind the C interface of spm_c_api.h. Links sentencepiece only,
// never libtorch (see spm_c_api.h for why they must not share a symbol namespace).
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include "tokenizer/spm_c_api.h"

#define RHO_SPM_EXPORT __attribute__((visibility("default")))

struct rho_spm {
  sentencepiece::SentencePieceProcessor sp;
};

namespace {
char* dup_bytes(const std::string& s, size_t* n = nullptr) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = 0;
  if (n) *n = s.size();
  return p;
}
int set_err(char** err, const std::string& msg) {
  if (err) *err = dup_bytes(msg);
  return 1;
}
}  // namespace

extern "C" {

RHO_SPM_EXPORT rho_spm* rho_spm_load(const char* proto, size_t n, char** err) {
  auto* h = new rho_spm;
  auto st = h->sp.LoadFromSerializedProto(std::string_view(proto, n));
  if (!st.ok()) {
    set_err(err, st.ToString());
    delete h;
    return nullptr;
  }
  return h;
}

RHO_SPM_EXPORT void rho_spm_free(rho_spm* sp) { delete sp; }

RHO_SPM_EXPORT int rho_spm_encode(rho_spm* sp, const char* text, size_t n, int32_t** ids, size_t* n_ids, char** err) {
  std::vector<int> v;
  auto st = sp->sp.Encode(std::string_view(text, n), &v);
  if (!st.ok()) return set_err(err, st.ToString());
  *ids = static_cast<int32_t*>(std::malloc(sizeof(int32_t) * (v.size() + 1)));
  for (size_t i = 0; i < v.size(); ++i) (*ids)[i] = v[i];
  *n_ids = v.size();
  return 0;
}

RHO_SPM_EXPORT int rho_spm_decode(rho_spm* sp, const int32_t* ids, size_t n, char** text, size_t* n_text, char** err) {
  std::vector<int> v(ids, ids + n);
  std::string out;
  auto st = sp->sp.Decode(v, &out);
  if (!st.ok()) return set_err(err, st.ToString());
  *text = dup_bytes(out, n_text);
  return 0;
}

RHO_SPM_EXPORT int rho_spm_piece(rho_spm* sp, int32_t id, char** piece, size_t* n_piece) {
  *piece = dup_bytes(sp->sp.IdToPiece(id), n_piece);
  return 0;
}

RHO_SPM_EXPORT float rho_spm_score(rho_spm* sp, int32_t id) { return sp->sp.GetScore(id); }
RHO_SPM_EXPORT int32_t rho_spm_size(rho_spm* sp) { return sp->sp.GetPieceSize(); }
RHO_SPM_EXPORT int32_t rho_spm_bos(rho_spm* sp) { return sp->sp.bos_id(); }
RHO_SPM_EXPORT int32_t rho_spm_eos(rho_spm* sp) { return sp->sp.eos_id(); }

RHO_SPM_EXPORT int rho_spm_train(const char* const* keys, const char* const* values, size_t n, unsigned seed,
                                 char** proto, size_t* n_proto, char** err) {
  std::unordered_map<std::string, std::string> args;
  for (size_t i = 0; i < n; ++i) args[keys[i]] = values[i];
  sentencepiece::SetRandomGeneratorSeed(seed);
  std::string model;
  auto st = sentencepiece::SentencePieceTrainer::Train(args, nullptr, &model);
  if (!st.ok()) return set_err(err, st.ToString());
  *proto = dup_bytes(model, n_proto);
  return 0;
}

RHO_SPM_EXPORT void rho_spm_free_buf(void* p) { std::free(p); }

}  // extern "C"
