// depends (ordering without copying) and the memory that checkpoint saves in a backward pass.
#include <gtest/gtest.h>

#include "tessera/tessera.h"

namespace tx = tessera;
using tx::array;

namespace {

TEST(Depends, PassesItsInputsThroughWithoutCopying) {
  array x({1.0f, 2.0f, 3.0f});
  x.eval();
  array later = tx::exp(array({0.5f}));
  auto outs = tx::depends({x}, {later});
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].shape(), x.shape());
  EXPECT_FALSE(later.is_evaluated());
  outs[0].eval();
  EXPECT_TRUE(later.is_evaluated());  // the dependency ran before the output
  EXPECT_EQ(outs[0].data<float>(), x.data<float>());
  EXPECT_EQ(outs[0].to_vector<float>(), (std::vector<float>{1, 2, 3}));
}

TEST(Depends, WithoutDependenciesIsTheInputs) {
  array x({1.0f});
  auto outs = tx::depends({x}, {});
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].id(), x.id());
}

TEST(Depends, GradientsFlowToThePassedInputsOnly) {
  auto f = [](const std::vector<array>& in) {
    auto outs = tx::depends({in[0] * in[0], in[1] * 3.0f}, {in[2]});
    return std::vector<array>{outs[0] + outs[1]};
  };
  array x({1.0f, -2.0f});
  array y({4.0f, 5.0f});
  array d({7.0f, 8.0f});
  auto [outs, grads] = tx::vjp(f, {x, y, d}, {array({1.0f, 10.0f})});
  EXPECT_EQ(outs[0].to_vector<float>(), (std::vector<float>{13, 19}));
  EXPECT_EQ(grads[0].to_vector<float>(), (std::vector<float>{2, -40}));
  EXPECT_EQ(grads[1].to_vector<float>(), (std::vector<float>{3, 30}));
  EXPECT_EQ(grads[2].to_vector<float>(), (std::vector<float>{0, 0}));
}

// A residual MLP block: its intermediates are four times wider than its input and output.
array block(const array& x, const array& w_up, const array& w_down) {
  array a = tx::tanh(tx::matmul(x, w_up));
  array b = tx::exp(tx::negative(a * a));
  return x + tx::matmul(a * b, w_down);
}

std::vector<array> block_fn(const std::vector<array>& in) { return {block(in[0], in[1], in[2])}; }

// Peak memory of the loss and gradients of a chain of blocks, each optionally checkpointed.
size_t peak_of_chain_gradient(bool checkpointed) {
  constexpr int kBlocks = 8;
  const array x = tx::random::normal({512, 64}, tx::float32, 0.0f, 1.0f, tx::random::key(1));
  std::vector<array> weights;
  for (int i = 0; i < 2 * kBlocks; ++i) {
    const tx::Shape shape = i % 2 ? tx::Shape{256, 64} : tx::Shape{64, 256};
    weights.push_back(tx::random::normal(shape, tx::float32, 0.0f, 0.1f, tx::random::key(2 + i)));
  }
  tx::eval(x);
  tx::eval(weights);
  auto run_block = tx::checkpoint(block_fn);
  auto loss = [&](const std::vector<array>& w) {
    array h = x;
    for (size_t i = 0; i < w.size(); i += 2) {
      h = checkpointed ? run_block({h, w[i], w[i + 1]})[0] : block(h, w[i], w[i + 1]);
    }
    return tx::sum(h);
  };
  std::vector<int> argnums(weights.size());
  for (size_t i = 0; i < argnums.size(); ++i) argnums[i] = static_cast<int>(i);
  tx::reset_peak_memory();
  auto [values, grads] = tx::value_and_grad(loss, argnums)(weights);
  grads.push_back(values[0]);
  tx::eval(grads);
  return tx::get_peak_memory();
}

TEST(Checkpoint, KeepsOneBlockOfIntermediatesAliveInTheBackwardPass) {
  // Plain: every block's wide intermediates live until the backward pass reaches it.
  // Checkpointed: the narrow block outputs plus one block's recomputation.
  const size_t plain = peak_of_chain_gradient(false);
  const size_t checkpointed = peak_of_chain_gradient(true);
  EXPECT_LT(checkpointed, plain * 4 / 10) << "plain " << plain << " bytes, checkpointed " << checkpointed;
}

TEST(Checkpoint, GradientsMatchThePlainChain) {
  const array x = tx::random::normal({16, 8}, tx::float32, 0.0f, 1.0f, tx::random::key(1));
  std::vector<array> weights;
  for (int i = 0; i < 6; ++i) {
    const tx::Shape shape = i % 2 ? tx::Shape{32, 8} : tx::Shape{8, 32};
    weights.push_back(tx::random::normal(shape, tx::float32, 0.0f, 0.3f, tx::random::key(5 + i)));
  }
  auto run_block = tx::checkpoint(block_fn);
  auto chain = [&](bool checkpointed) {
    return [&, checkpointed](const std::vector<array>& w) {
      array h = x;
      for (size_t i = 0; i < w.size(); i += 2) {
        h = checkpointed ? run_block({h, w[i], w[i + 1]})[0] : block(h, w[i], w[i + 1]);
      }
      return tx::sum(h * h);
    };
  };
  const std::vector<int> all{0, 1, 2, 3, 4, 5};
  auto [plain_value, plain_grads] = tx::value_and_grad(chain(false), all)(weights);
  auto [ckpt_value, ckpt_grads] = tx::value_and_grad(chain(true), all)(weights);
  EXPECT_NEAR(ckpt_value[0].item<float>(), plain_value[0].item<float>(), 1e-4f);
  for (size_t i = 0; i < weights.size(); ++i) {
    auto p = plain_grads[i].to_vector<float>();
    auto c = ckpt_grads[i].to_vector<float>();
    ASSERT_EQ(p.size(), c.size());
    for (size_t k = 0; k < p.size(); ++k) EXPECT_NEAR(c[k], p[k], 1e-4f * (1.0f + std::abs(p[k]))) << i << "," << k;
  }
}

}  // namespace
