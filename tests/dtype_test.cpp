#include <gtest/gtest.h>
#include <isomer/error.h>
#include <isomer/ops/dtype.h>

namespace isomer {

TEST(DType, RowBytesFollowsBlockLayout) {
  EXPECT_EQ(row_bytes(DType::F32, 7), 28u);
  EXPECT_EQ(row_bytes(DType::Q8_0, 64), 68u);
  EXPECT_EQ(row_bytes(DType::Q4_K, 512), 288u);
  EXPECT_THROW(row_bytes(DType::Q4_0, 33), Error);
}

TEST(DType, UnsupportedIdsAreNamed) {
  EXPECT_FALSE(dtype_traits(10).has_value());  // Q2_K
  EXPECT_EQ(ggml_type_name(10), "Q2_K");
  EXPECT_EQ(ggml_type_name(9999), "unknown");
}

// Q8_1 and Q8_K exist only as the CPU backend's activation blocks: model files and user input
// may not name them.
TEST(DType, ActivationOnlyTypesAreNotTensorTypes) {
  for (DType t : {DType::Q8_1, DType::Q8_K}) {
    EXPECT_FALSE(dtype_traits(static_cast<uint32_t>(t)).has_value()) << dtype_name(t);
    EXPECT_FALSE(dtype_from_name(dtype_name(t)).has_value()) << dtype_name(t);
  }
  EXPECT_EQ(row_bytes(DType::Q8_1, 64), 72u);
  EXPECT_EQ(row_bytes(DType::Q8_K, 512), 584u);
  EXPECT_EQ(dtype_from_name("Q8_0"), DType::Q8_0);
}

}  // namespace isomer
