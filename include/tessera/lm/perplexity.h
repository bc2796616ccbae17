// Perplexity of a model on token sequences: the mean negative log-likelihood of each next
// token, as mlx_lm.perplexity computes it.
#pragma once

#include "tessera/lm/model.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace tessera::lm {

struct PerplexityResult {
  double ppl = 0;        // exp(mean NLL)
  double stderr_ppl = 0;  // ppl * std(NLL, ddof 1) / sqrt(tokens): the delta-method standard error
  double mean_nll = 0;
  int64_t tokens = 0;    // predicted tokens: sequences * (sequence_length - 1)
  int sequences = 0;
};

// Splits `tokens` into consecutive rows of sequence_length (a tail too short for a row is
// dropped), keeping at most num_samples rows when num_samples > 0. Throws when not even one
// row fits.
std::vector<std::vector<int>> split_sequences(const std::vector<int>& tokens, int sequence_length,
                                              int num_samples = -1);

// Evaluates the rows in batches of batch_size (no cache: each row starts at position 0).
// on_batch(done, total) reports progress.
PerplexityResult perplexity(Model& model, const std::vector<std::vector<int>>& sequences, int batch_size,
                            const std::function<void(int, int)>& on_batch = {});

}  // namespace tessera::lm
