// Loads librho_spm.so privately (see spm_c_api.h) and hands out its functions.
#pragma once
#include "tokenizer/spm_c_api.h"

namespace rho {

struct SpmLibrary {
  decltype(&rho_spm_load) load;
  decltype(&rho_spm_free) free;
  decltype(&rho_spm_encode) encode;
  decltype(&rho_spm_decode) decode;
  decltype(&rho_spm_piece) piece;
  decltype(&rho_spm_score) score;
  decltype(&rho_spm_size) size;
  decltype(&rho_spm_bos) bos;
  decltype(&rho_spm_eos) eos;
  decltype(&rho_spm_train) train;
  decltype(&rho_spm_free_buf) free_buf;
};

// Looked up in $RHO_SPM_LIB, then beside the running executable, then in the build tree.
// UserError naming the paths tried when it cannot be loaded.
const SpmLibrary& spm_library();

}  // namespace rho
