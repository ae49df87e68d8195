// parameter_shapes(config) is the Transformer's named_parameters(), name for
// name and shape for shape, for every variant of the layout (tied or not,
// attention biases or not, grouped-query attention) without building it.
#include <gtest/gtest.h>

#include "model/parameter_shapes.h"
#include "model/transformer.h"

using namespace seedforge;

namespace {

ModelConfig small(bool tied, bool bias, int64_t kv_heads) {
  ModelConfig c;
  c.dim = 48;
  c.hidden_dim = 80;
  c.n_layers = 3;
  c.n_heads = 6;
  c.n_kv_heads = kv_heads;
  c.vocab_size = 37;
  c.max_seq_len = 16;
  c.tie_embeddings = tied;
  c.attention_bias = bias;
  return c;
}

}  // namespace

TEST(ParameterShapes, EqualTheTransformersParameters) {
  for (bool tied : {true, false}) {
    for (bool bias : {false, true}) {
      for (int64_t kv : {6, 2}) {
        const ModelConfig c = small(tied, bias, kv);
        Transformer model(c);
        const auto built = model->named_parameters();
        const auto planned = parameter_shapes(c);
        ASSERT_EQ(planned.size(), built.size()) << "tied " << tied << " bias " << bias << " kv " << kv;
        int64_t total = 0;
        for (size_t i = 0; i < planned.size(); ++i) {
          EXPECT_EQ(planned[i].name, built[i].key());
          EXPECT_EQ(planned[i].shape, built[i].value().sizes().vec()) << planned[i].name;
          total += built[i].value().numel();
        }
        EXPECT_EQ(parameter_count(c), total);
      }
    }
  }
}
