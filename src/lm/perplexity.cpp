#include "tessera/lm/perplexity.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "tessera/ops.h"

namespace tessera::lm {

std::vector<std::vector<int>> split_sequences(const std::vector<int>& tokens, int sequence_length, int num_samples) {
  if (sequence_length < 2) {
    throw std::invalid_argument("[perplexity] The sequence length must be at least 2, got " +
                                std::to_string(sequence_length) + ".");
  }
  size_t rows = tokens.size() / static_cast<size_t>(sequence_length);
  if (num_samples > 0) rows = std::min(rows, static_cast<size_t>(num_samples));
  if (rows == 0) {
    throw std::invalid_argument("[perplexity] The data has " + std::to_string(tokens.size()) +
                                " tokens, fewer than one sequence of " + std::to_string(sequence_length) + ".");
  }
  std::vector<std::vector<int>> out;
  for (size_t r = 0; r < rows; ++r) {
    auto begin = tokens.begin() + static_cast<std::ptrdiff_t>(r * sequence_length);
    out.emplace_back(begin, begin + sequence_length);
  }
  return out;
}

PerplexityResult perplexity(Model& model, const std::vector<std::vector<int>>& sequences, int batch_size,
                            const std::function<void(int, int)>& on_batch) {
  if (batch_size < 1) {
    throw std::invalid_argument("[perplexity] The batch size must be at least 1, got " + std::to_string(batch_size) + ".");
  }
  if (sequences.empty()) throw std::invalid_argument("[perplexity] No sequences to evaluate.");
  const int64_t L = static_cast<int64_t>(sequences.front().size());
  for (const auto& s : sequences) {
    if (static_cast<int64_t>(s.size()) != L || L < 2) {
      throw std::invalid_argument("[perplexity] Every sequence must have the same length (at least 2).");
    }
  }
  const int n = static_cast<int>(sequences.size());
  const int num_batches = (n + batch_size - 1) / batch_size;
  std::vector<float> nll;
  for (int b = 0; b < num_batches; ++b) {
    int first = b * batch_size;
    int rows = std::min(batch_size, n - first);
    std::vector<int> ids;
    for (int r = 0; r < rows; ++r) ids.insert(ids.end(), sequences[first + r].begin(), sequences[first + r].end());
    array batch(ids, {rows, L}, int32);
    array inputs = slice(batch, {0, 0}, {rows, L - 1});
    array targets = slice(batch, {0, 1}, {rows, L});
    array logits = model(inputs);
    array target_logits = squeeze(take_along_axis(logits, expand_dims(targets, -1), -1), -1);
    array losses = subtract(logsumexp(logits, -1), target_logits);
    auto values = losses.to_vector<float>();
    nll.insert(nll.end(), values.begin(), values.end());
    if (on_batch) on_batch(b + 1, num_batches);
  }

  double sum = 0;
  for (float x : nll) sum += x;
  PerplexityResult result;
  result.tokens = static_cast<int64_t>(nll.size());
  result.sequences = n;
  result.mean_nll = sum / static_cast<double>(nll.size());
  result.ppl = std::exp(result.mean_nll);
  if (nll.size() > 1) {
    double squares = 0;
    for (float x : nll) squares += (x - result.mean_nll) * (x - result.mean_nll);
    double std_nll = std::sqrt(squares / static_cast<double>(nll.size() - 1));
    result.stderr_ppl = result.ppl * std_nll / std::sqrt(static_cast<double>(nll.size()));
  }
  return result;
}

}  // namespace tessera::lm
